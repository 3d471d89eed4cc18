"""Parse simple-index project pages (PEP 691 JSON, PEP 503 HTML) into DistFiles.

Both parsers give the same DistFiles for the same files, except for what HTML cannot carry (size
and PEP 700 upload-time). URLs are resolved against the page URL (or an HTML `<base href>`), and
the hash fragment and any user info are stripped from them: the hash lives in `DistFile.sha256`.
Entries whose file name is not a distribution (eggs, installers, garbage) are skipped, as are
entries of another project.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import Version

from venvd.dist import DistFile, FileKind, parse_dist_filename

from ._config import split_credentials

__all__ = ["ACCEPT", "JSON_TYPE", "is_json", "max_age", "parse_html", "parse_json"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
# PEP 691: prefer JSON, accept the versioned HTML, then legacy text/html.
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


def is_json(content_type: str, body: bytes) -> bool:
    """Whether a page is PEP 691 JSON: by Content-Type, else (untyped servers) by its first byte."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == JSON_TYPE or ctype == "application/json":
        return True
    if "html" in ctype:
        return False
    return body.lstrip()[:1] == b"{"


def max_age(cache_control: str | None) -> int | None:
    """The max-age of a Cache-Control header; no-cache/no-store mean 0."""
    if not cache_control:
        return None
    result: int | None = None
    for directive in cache_control.lower().split(","):
        key, _, value = directive.strip().partition("=")
        if key in ("no-cache", "no-store"):
            return 0
        if key == "max-age":
            try:
                result = max(0, int(value.strip().strip('"')))
            except ValueError:
                continue
    return result


class _FileNames:
    """`venvd.dist.parse_dist_filename` for the files of one page, with what a page repeats parsed
    once: a version's wheels share their `name-version[-build]` head, and pages share a few tag
    triples. Parsing every wheel name in full was most of the time of parsing a page (PyPI lists
    thousands of wheels for numpy or pyzmq); this gives the same answers, by the same packaging
    calls: the head is validated by `parse_wheel_filename` on `head-py3-none-any.whl`, the tags by
    `parse_tag`, exactly the two steps `parse_wheel_filename` takes."""

    def __init__(self) -> None:
        self._heads: dict[str, tuple[NormalizedName, Version] | None] = {}

    def parse(self, filename: str) -> tuple[NormalizedName, Version, FileKind, frozenset[Tag]] | None:
        if not filename.endswith(".whl"):
            return parse_dist_filename(filename)
        stem = filename[:-4]
        dashes = stem.count("-")
        if dashes not in (4, 5):
            return None
        tag_text = stem.split("-", dashes - 2)[-1]
        head = stem[:-len(tag_text) - 1]
        if head in self._heads:
            parsed = self._heads[head]
        else:
            try:
                name, version, _build, _any = parse_wheel_filename(f"{head}-py3-none-any.whl")
            except InvalidWheelFilename:
                parsed = None
            else:
                parsed = (name, version)
            self._heads[head] = parsed
        tags = _parse_tags(tag_text)
        if parsed is None or tags is None:
            return None
        return parsed[0], parsed[1], "wheel", tags


@lru_cache(maxsize=4096)
def _parse_tags(text: str) -> frozenset[Tag] | None:
    """`parse_tag`, remembered: a few hundred distinct tag triples cover most of an index."""
    try:
        return parse_tag(text)
    except ValueError:  # packaging's InvalidTag / UnsortedTagsError
        return None


def parse_json(body: bytes, page_url: str, project: NormalizedName,
               index_url: str) -> list[DistFile]:
    data = json.loads(body)
    files = []
    names = _FileNames()
    for entry in data.get("files", []):
        if not isinstance(entry, dict) or "filename" not in entry or "url" not in entry:
            continue
        hashes = entry.get("hashes") or {}
        meta = entry.get("core-metadata", entry.get("dist-info-metadata"))
        dist = _make(
            names, project, str(entry["filename"]), _absolute(page_url, str(entry["url"])),
            index_url,
            sha256=_lower(hashes.get("sha256")) if isinstance(hashes, dict) else None,
            size=entry.get("size") if isinstance(entry.get("size"), int) else None,
            requires_python=entry.get("requires-python") or None,
            yanked=_yanked(entry.get("yanked", False)),
            upload_time=_timestamp(entry.get("upload-time")),
            metadata_sha256=_json_metadata(meta),
        )
        if dist is not None:
            files.append(dist)
    return files


def _absolute(page_url: str, url: str) -> str:
    """`url` resolved against the page; absolute URLs (PyPI lists only those) skip the costly urljoin,
    which was a third of parsing a large page."""
    if url.startswith(("https://", "http://")) and "/../" not in url and "/./" not in url:
        return url
    return urljoin(page_url, url)


def parse_html(body: bytes, page_url: str, project: NormalizedName | None,
               index_url: str) -> list[DistFile]:
    """Anchors of a PEP 503 page (or a find-links page, with `project=None`: every project)."""
    parser = _LinkParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    names = _FileNames()
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        dist = _make(
            names, project, filename, url, index_url,
            sha256=_fragment_sha256(fragment),
            requires_python=attrs.get("data-requires-python") or None,
            yanked=attrs.get("data-yanked"),  # present (even empty) means yanked
            metadata_sha256=_html_metadata(meta),
        )
        if dist is not None:
            files.append(dist)
    return files


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A valueless attribute (`<a data-yanked href=...>`) means the empty string.
        values = {k: v or "" for k, v in attrs}
        if tag == "a":
            self.anchors.append(values)
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]


def _make(names: _FileNames, project: NormalizedName | None, filename: str, url: str,
          index_url: str, **fields: Any) -> DistFile | None:
    if "#" in url:
        url = urldefrag(url)[0]
    if "@" in url:
        # A page may spell credentials into its links: they are sent as headers (IndexAuth), never
        # kept in a URL that would end up in a lock, the store or a message.
        url = split_credentials(url)[0]
    parsed = names.parse(filename)
    if parsed is None or (project is not None and parsed[0] != project):
        return None
    name, version, kind, tags = parsed
    return DistFile(project=name, filename=filename, url=url, version=version, kind=kind,
                    tags=tags, index_url=index_url, **fields)


def _lower(value: object) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def _yanked(value: object) -> str | None:
    if value is False or value is None:
        return None
    return value if isinstance(value, str) else ""


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _json_metadata(value: object) -> str | None:
    """PEP 691/714 core-metadata: false/absent → None; true → ""; hashes → their sha256 (or "")."""
    if value is None or value is False:
        return None
    if isinstance(value, Mapping):
        return _lower(value.get("sha256")) or ""
    return "" if value else None


_HASH_RE = re.compile(r"^(?P<name>[a-z0-9_-]+)=(?P<value>[0-9a-fA-F]+)$")


def _fragment_sha256(fragment: str) -> str | None:
    for part in fragment.split("&"):
        match = _HASH_RE.match(part.strip())
        if match and match["name"].lower() == "sha256":
            return match["value"].lower()
    return None


def _html_metadata(value: str | None) -> str | None:
    """PEP 658/714 attribute: "true" or "sha256=<hex>" (any other hash: present, unverifiable)."""
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "false":
        return None
    match = _HASH_RE.match(value)
    if match and match["name"].lower() == "sha256":
        return match["value"].lower()
    return ""
