"""A TLS context that loads its trusted CA certificates at its first handshake, not when made.

httpx makes its TLS context when the client is made (``ssl.create_default_context`` with certifi's
bundle): parsing about 150 PEM certificates costs some 320 million instructions (callgrind),
about a sixth of a whole warm ``venvd create`` against an ``http://`` server, which never does TLS.
This context is what httpx would have made (``PROTOCOL_TLS_CLIENT``: hostname checked, certificate
required; CAs from ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi, as httpx chooses them),
with the loading deferred to the first `wrap_socket`/`wrap_bio` (a connection to an ``https://``
server, or a redirect to an object store's presigned URL).
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

__all__ = ["LazyTrustContext"]


class LazyTrustContext(ssl.SSLContext):
    """``ssl.create_default_context(cafile=certifi.where())``, loaded on first use."""

    _venvd_lock: threading.Lock
    _venvd_loaded: bool

    def __new__(cls) -> LazyTrustContext:
        made = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        made._venvd_lock = threading.Lock()
        made._venvd_loaded = False
        return made

    def load_trust(self) -> None:
        """Load the CA certificates (once; later calls return at once)."""
        with self._venvd_lock:
            if self._venvd_loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._venvd_loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_trust()
        return super().wrap_bio(*args, **kwargs)
