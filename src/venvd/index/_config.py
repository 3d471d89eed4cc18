"""Index configuration: which indexes and find-links locations to read, in pip's meaning.

`IndexConfig` is a frozen value. Its fields are normalized on construction (index URLs end with
"/", local paths become absolute `file://` URLs) so that two configurations that mean the same
thing compare and serialize equal; `to_json` is the canonical form that resolution cache keys hash.

Credentials in a URL (``https://user:token@host/simple/``) are taken out on construction: the URLs
kept (and so every page, file URL, lock, key, message and log derived from them) carry none, and
`credentials` (never printed or compared) holds them per origin for the HTTP client to send as
basic auth (`index._http.IndexAuth`, which also reads netrc).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["Credential", "IndexConfig", "is_file_url", "origin", "redact_url", "split_credentials",
           "to_url"]

# (origin as `origin()` spells it, user, password)
Credential = tuple[str, str, str]
_DEFAULT_PORTS = {"http": 80, "https": 443}

_URL_SCHEMES = ("http", "https", "file")


def is_file_url(url: str) -> bool:
    return urlsplit(url).scheme == "file"


def origin(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host:port`` with the default port spelled out: the key credentials apply to."""
    scheme = scheme.lower()
    return f"{scheme}://{host.lower()}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


def split_credentials(url: str) -> tuple[str, Credential | None]:
    """`url` without its user info, and the credential it carried (None when it had none)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    try:
        port = parts.port
    except ValueError:
        port = None
    credential = (origin(parts.scheme, parts.hostname or "", port), unquote(user), unquote(password))
    return clean, credential


def redact_url(url: str) -> str:
    """`url` with any user info replaced by ``***`` (for messages about URLs from elsewhere)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def to_url(location: str) -> str:
    """`location` as a URL: http(s) and file URLs unchanged, a local path as file URL."""
    location = location.strip()
    if urlsplit(location).scheme in _URL_SCHEMES:
        return location
    # A path is relative to the process that configured it: pinned now, not when it is read.
    return Path(location).expanduser().resolve().as_uri()


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """Where projects come from.

    `index_urls`: PEP 503/691 simple indexes, `--index-url` first then each `--extra-index-url`;
    a project is taken from the first of them that has it. `find_links`: directories, `file://`
    URLs or http(s) pages of links whose files are added to whatever index answered (pip's
    `--find-links`).
    """

    index_urls: tuple[str, ...] = ("https://pypi.org/simple/",)
    find_links: tuple[str, ...] = ()
    # Taken from the URLs on construction; secret: kept out of repr, equality and `to_json`.
    credentials: tuple[Credential, ...] = dataclasses.field(default=(), repr=False,
                                                            compare=False)

    def __post_init__(self) -> None:
        credentials = list(self.credentials)

        def clean(url: str) -> str:
            url, credential = split_credentials(url)
            if credential is not None and credential not in credentials:
                credentials.append(credential)
            return url

        index_urls = tuple(_with_slash(clean(to_url(u))) for u in self.index_urls)
        find_links = tuple(clean(to_url(u)) for u in self.find_links)
        # frozen: normalization is the one place fields are set after __init__.
        object.__setattr__(self, "index_urls", index_urls)
        object.__setattr__(self, "find_links", find_links)
        object.__setattr__(self, "credentials", tuple(credentials))

    def to_json(self) -> dict[str, list[str]]:
        """Canonical JSON form (order is meaningful and kept: the first index wins)."""
        return {"index_urls": list(self.index_urls), "find_links": list(self.find_links)}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> IndexConfig:
        return cls(index_urls=tuple(data.get("index_urls", ())),
                   find_links=tuple(data.get("find_links", ())))


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
