"""Direct references (``name @ URL``): their form, and the server's allow-list of URL prefixes.

A server fetches a client-chosen URL only when it is safe to: the URL is http(s) without
credentials, carries the sha256 of the file it must give (``#sha256=<64 hex>``), names a wheel
or sdist, and starts with one of the prefixes the server's operator allowed
(``direct_url_prefixes``, empty by default: every direct reference refused). Otherwise a server
would be a request-forgery relay into whatever network it sits in.

    reference = parse_direct(requirement)      form only: DirectError naming what is wrong
    problem = DirectURLPolicy(prefixes).problem(reference.url)   None when allowed

Layer-neutral: imports only `packaging` and the standard library.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

__all__ = ["DirectError", "DirectReference", "DirectURLPolicy", "check_prefix", "parse_direct"]

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")


class DirectError(ValueError):
    """A direct reference or a prefix that cannot be taken; the message says why."""


@dataclasses.dataclass(frozen=True)
class DirectReference:
    """A hashed ``name @ URL``: `url` without its fragment, `sha256` lower-case hex, `filename`
    the URL's last path segment (unquoted), `kind` by its suffix."""

    name: NormalizedName
    url: str
    sha256: str
    filename: str

    @property
    def kind(self) -> str:
        return "wheel" if self.filename.endswith(".whl") else "sdist"

    @property
    def hashed_url(self) -> str:
        return f"{self.url}#sha256={self.sha256}"


def parse_direct(req: Requirement, sha256: str | None = None) -> DirectReference:
    """The direct reference `req` (which has a URL) is, in canonical form; `sha256` is a hash
    given beside it (a ``--hash`` option) when the URL has none. DirectError says what is wrong:
    no hash, two different hashes, not http(s), credentials, a fragment other than the hash, or a
    file that is neither a wheel nor an sdist."""
    assert req.url
    parts = urlsplit(req.url)
    if parts.scheme not in ("https", "http"):
        scheme = f"a {parts.scheme}: URL" if parts.scheme else "no URL"
        raise DirectError(f"its URL is {scheme}, not an http(s) URL: a server fetches direct "
                          "references over https (or http where it allows that)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DirectError("its URL carries credentials, which a server never takes from a client")
    if not parts.hostname:
        raise DirectError("its URL has no host")
    given = sha256.lower() if sha256 else None
    if parts.fragment:
        algorithm, _, digest = parts.fragment.partition("=")
        if algorithm != "sha256" or not _SHA256.fullmatch(digest):
            raise DirectError(f"its URL fragment #{parts.fragment} is not #sha256=<64 hexadecimal "
                              "digits> (venvd checks files by sha256)")
        if given is not None and given != digest.lower():
            raise DirectError("its URL's #sha256= and its --hash disagree")
        given = digest.lower()
    if given is None:
        raise DirectError("its URL has no #sha256= hash: a server fetches no URL chosen by a "
                          "client without the hash of what it must get")
    filename = unquote(posixpath.basename(parts.path))
    if not filename.endswith(_ARCHIVES) or "/" in filename:
        raise DirectError(f"its URL names {filename or 'no file'!r}, not a wheel or an sdist "
                          "archive")
    url = parts._replace(netloc=parts.netloc.lower(), fragment="").geturl()
    return DirectReference(canonicalize_name(req.name), url, given, filename)


def check_prefix(prefix: str) -> str:
    """An allowed URL prefix in canonical form (a bare origin gets its ``/``), or DirectError:
    only http(s), with a host, without credentials, query or fragment."""
    parts = urlsplit(prefix.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DirectError(f"direct URL prefix {prefix!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DirectError(f"direct URL prefix {prefix!r} carries credentials")
    if parts.query or parts.fragment:
        raise DirectError(f"direct URL prefix {prefix!r} has a query or a fragment")
    # "https://files.example" must not allow "https://files.example.evil/": a prefix ends its host.
    return parts._replace(netloc=parts.netloc.lower(), path=parts.path or "/").geturl()


@dataclasses.dataclass(frozen=True)
class DirectURLPolicy:
    """The URL prefixes a server fetches direct references from (canonical, see `check_prefix`);
    none: direct references are refused."""

    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, prefixes: tuple[str, ...] | list[str]) -> DirectURLPolicy:
        return cls(tuple(check_prefix(p) for p in prefixes))

    def problem(self, url: str) -> str | None:
        """Why this server does not fetch `url` (a `DirectReference.url`), or None."""
        if not self.prefixes:
            return ("this server takes no direct references (its direct_url_prefixes setting is "
                    "empty)")
        path = urlsplit(url).path
        # Dot segments (also percent-encoded) could climb out of an allowed prefix.
        if any(seg in (".", "..") for seg in unquote(path).split("/")):
            return "its URL has '.' or '..' path segments"
        if any(url.startswith(prefix) for prefix in self.prefixes):
            return None
        return ("its URL starts with none of the prefixes this server allows for direct "
                f"references ({', '.join(self.prefixes)})")
