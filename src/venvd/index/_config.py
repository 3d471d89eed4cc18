"""Index configuration: which indexes and find-links locations to read, in pip's meaning.

`IndexConfig` is a frozen value. Its fields are normalized on construction (index URLs end with
"/", local paths become absolute `file://` URLs) so that two configurations that mean the same
thing compare and serialize equal; `to_json` is the canonical form that resolution cache keys hash.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["IndexConfig", "is_file_url", "to_url"]

_URL_SCHEMES = ("http", "https", "file")


def is_file_url(url: str) -> bool:
    return urlsplit(url).scheme == "file"


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

    def __post_init__(self) -> None:
        index_urls = tuple(_with_slash(to_url(u)) for u in self.index_urls)
        find_links = tuple(to_url(u) for u in self.find_links)
        # frozen: normalization is the one place fields are set after __init__.
        object.__setattr__(self, "index_urls", index_urls)
        object.__setattr__(self, "find_links", find_links)

    def to_json(self) -> dict[str, list[str]]:
        """Canonical JSON form (order is meaningful and kept: the first index wins)."""
        return {"index_urls": list(self.index_urls), "find_links": list(self.find_links)}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> IndexConfig:
        return cls(index_urls=tuple(data.get("index_urls", ())),
                   find_links=tuple(data.get("find_links", ())))


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
