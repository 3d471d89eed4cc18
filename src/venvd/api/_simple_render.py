"""Render simple-repository pages: PEP 503 HTML and PEP 691 JSON, and choose between them.

    files = [ListedFile("six-1.16.0-py2.py3-none-any.whl", "/files/ab.../six-1.16.0-...whl",
                        sha256="ab...", size=11053)]
    kind = negotiate(request.headers.get("accept"), request.query_params.get("format"))
    body = render_project(kind, "six", files)        # bytes, of media type kind.content_type

What a page carries: `#sha256=` URL fragments (HTML) and `hashes` (JSON); PEP 592 yanking
(`data-yanked`, `yanked`); `requires-python` (HTML-escaped in the attribute, as PEP 503 asks);
PEP 658/714 core metadata (`data-core-metadata` and the legacy `data-dist-info-metadata`, JSON's
`core-metadata` and `dist-info-metadata`) only for files whose `.metadata` the caller can serve; and
PEP 700 (`versions`, `size`, `upload-time`). PEP 700 makes `size` required at api-version 1.1: a page
declares 1.1 when every file has a size, else 1.0 (sizes that are known are still given; a 1.0
reader ignores them). This module knows nothing of the service: callers pass what to list.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from venvd.dist import parse_dist_filename
from venvd.errors import NotAcceptable

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "LEGACY_HTML_TYPE",
    "ListedFile",
    "PageFormat",
    "negotiate",
    "render_index",
    "render_project",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
LEGACY_HTML_TYPE = "text/html"


class PageFormat(Enum):
    """A page's serialization; the value is the media type it answers."""

    JSON = JSON_TYPE
    HTML = HTML_TYPE
    LEGACY_HTML = LEGACY_HTML_TYPE

    @property
    def content_type(self) -> str:
        """The Content-Type header of an answer in this format."""
        return f"{self.value}; charset=utf-8" if self is PageFormat.LEGACY_HTML else self.value


@dataclasses.dataclass(frozen=True)
class ListedFile:
    """One file as a project page lists it.

    `url` is what the page links (absolute, or relative to the page). `sha256` is the file's hash
    (None: unknown, no fragment is written). `yanked` is None when not yanked, else the reason (""
    for none given). `core_metadata_sha256` is None when no `<url>.metadata` is served, else the
    sha256 of the exact bytes served there ("" when served but the hash is unknown)."""

    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None
    yanked: str | None = None
    size: int | None = None
    upload_time: datetime | None = None
    core_metadata_sha256: str | None = None


# Server preference when the client rates several formats equally: JSON is the richer one.
_PREFERENCE = (PageFormat.JSON, PageFormat.HTML, PageFormat.LEGACY_HTML)


def negotiate(accept: str | None, format: str | None = None) -> PageFormat:
    """The format to answer in, from the Accept header and PyPI's `?format=` query parameter.

    `format` (a media type) wins over Accept when given. Accept is read with its q-values: each
    format gets the q of the most specific range that matches it (`type/subtype` over `type/*`
    over `*/*`); the highest q wins, ties go to the more specific match, then to JSON, the v1
    HTML, legacy HTML, except that a tie under `*/*` alone goes to legacy `text/html` (as PyPI
    answers). No Accept header (or an empty one) means legacy `text/html` too, as PEP 503
    clients expect. Raises NotAcceptable (406) when no format is acceptable."""
    if format is not None:
        wanted = format.strip().lower()
        for kind in _PREFERENCE:
            if wanted == kind.value:
                return kind
        raise NotAcceptable(
            f"format {format[:100]!r} is not served; ask for one of {_offered()}",
            offered=[kind.value for kind in _PREFERENCE])
    if accept is None or not accept.strip():
        return PageFormat.LEGACY_HTML
    ranges = _parse_accept(accept)
    best: tuple[float, int, int] | None = None
    chosen: PageFormat | None = None
    for rank, kind in enumerate(_PREFERENCE):
        match = _match(ranges, kind.value)
        if match is None or match[0] <= 0:
            continue
        # Among equal matches the richer format wins, except under a bare `*/*` (curl, scripts):
        # legacy HTML, the answer every simple-index client understands.
        key = (match[0], match[1], -rank if match[1] else rank)
        if best is None or key > best:
            best, chosen = key, kind
    if chosen is None:
        raise NotAcceptable(
            f"none of the accepted media types is served; accept one of {_offered()}",
            offered=[kind.value for kind in _PREFERENCE])
    return chosen


def _offered() -> str:
    return ", ".join(kind.value for kind in _PREFERENCE)


def _parse_accept(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range; a range with an unreadable q is dropped."""
    ranges = []
    for part in accept.split(",")[:64]:  # bounded: a header of thousands of ranges is not a client
        fields = part.split(";")
        media = fields[0].strip().lower()
        main, slash, sub = media.partition("/")
        if not slash or not main or not sub:
            continue
        q = 1.0
        valid = True
        for param in fields[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    valid = False
                if not 0.0 <= q <= 1.0:
                    valid = False
        if valid:
            ranges.append((main, sub, q))
    return ranges


def _match(ranges: Sequence[tuple[str, str, float]], media_type: str) -> tuple[float, int] | None:
    """(q, specificity) of the most specific range matching `media_type`, or None."""
    main, _, sub = media_type.partition("/")
    found: tuple[float, int] | None = None
    for r_main, r_sub, q in ranges:
        if r_main == main and r_sub == sub:
            specificity = 2
        elif r_main == main and r_sub == "*":
            specificity = 1
        elif r_main == "*" and r_sub == "*":
            specificity = 0
        else:
            continue
        if found is None or specificity > found[1]:
            found = (q, specificity)
    return found


def render_project(kind: PageFormat, project: str, files: Sequence[ListedFile],
                   versions: Iterable[str] | None = None) -> bytes:
    """The project page of `project` (its normalized name) listing `files`, in `kind`.

    `versions` (PEP 700) defaults to the versions of the listed files' names, in PEP 440 order."""
    api_version = "1.1" if all(f.size is not None for f in files) else "1.0"
    if kind is PageFormat.JSON:
        doc: dict[str, Any] = {
            "meta": {"api-version": api_version},
            "name": project,
            "files": [_json_file(f) for f in files],
        }
        if api_version == "1.1":
            doc["versions"] = list(versions) if versions is not None else _versions(files)
        return json.dumps(doc, separators=(",", ":")).encode()
    return _template("project").render(
        api_version=api_version, project=project,
        files=[(f, _href(f), _metadata_attr(f)) for f in files]).encode()


def render_index(kind: PageFormat, projects: Iterable[str]) -> bytes:
    """The root page listing `projects` (normalized names; sorted here)."""
    names = sorted(set(projects))
    if kind is PageFormat.JSON:
        doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
        return json.dumps(doc, separators=(",", ":")).encode()
    return _template("index").render(api_version="1.1", projects=names).encode()


def _json_file(f: ListedFile) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": f.filename,
        "url": f.url,
        "hashes": {"sha256": f.sha256} if f.sha256 else {},
    }
    if f.requires_python:
        entry["requires-python"] = f.requires_python
    entry["yanked"] = (f.yanked or True) if f.yanked is not None else False
    if f.size is not None:
        entry["size"] = f.size
    if f.upload_time is not None:
        entry["upload-time"] = _timestamp(f.upload_time)
    if f.core_metadata_sha256 is not None:
        meta: bool | dict[str, str] = (
            {"sha256": f.core_metadata_sha256} if f.core_metadata_sha256 else True)
        # PEP 714: the new key, and the old one that clients before it read.
        entry["core-metadata"] = meta
        entry["dist-info-metadata"] = meta
    return entry


def _timestamp(moment: datetime) -> str:
    """PEP 700's ISO 8601 form in UTC with a `Z` (naive datetimes are taken as UTC)."""
    offset = moment.utcoffset()
    if offset:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()  # C code: a page of thousands of files formats thousands of these
    if offset is not None:
        text = text[:-6]  # the "+00:00"
    return text + "Z"


def _href(f: ListedFile) -> str:
    return f"{f.url}#sha256={f.sha256}" if f.sha256 else f.url


def _metadata_attr(f: ListedFile) -> str | None:
    if f.core_metadata_sha256 is None:
        return None
    return f"sha256={f.core_metadata_sha256}" if f.core_metadata_sha256 else "true"


def _versions(files: Iterable[ListedFile]) -> list[str]:
    """The versions of the files' names, in PEP 440 order. A wheel's version is its name's second
    field (PEP 427 escapes dashes in the other fields), parsed once per distinct text: parsing
    every wheel name in full (its tags) cost more than the rest of rendering a large page."""
    texts: dict[str, Version | None] = {}
    found: dict[Version, str] = {}
    for f in files:
        if f.filename.endswith(".whl") and f.filename.count("-") in (4, 5):
            text = f.filename.split("-", 2)[1]
            if text not in texts:
                try:
                    texts[text] = Version(text)
                except InvalidVersion:
                    texts[text] = None
            version = texts[text]
        else:
            parsed = parse_dist_filename(f.filename)
            version = parsed[1] if parsed is not None else None
        if version is not None:
            found.setdefault(version, str(version))
    return [found[v] for v in sorted(found)]


_TEMPLATES = {
    "project": """<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="{{ api_version }}">
    <title>Links for {{ project }}</title>
  </head>
  <body>
    <h1>Links for {{ project }}</h1>
{% for f, href, metadata in files %}
    <a href="{{ href }}"
{%- if f.requires_python %} data-requires-python="{{ f.requires_python }}"{% endif %}
{%- if f.yanked is not none %} data-yanked="{{ f.yanked }}"{% endif %}
{%- if metadata is not none %} data-core-metadata="{{ metadata }}" \
data-dist-info-metadata="{{ metadata }}"{% endif %}>{{ f.filename }}</a><br>
{% endfor %}
  </body>
</html>
""",
    "index": """<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="{{ api_version }}">
    <title>Simple index</title>
  </head>
  <body>
{% for name in projects %}
    <a href="{{ name }}/">{{ name }}</a><br>
{% endfor %}
  </body>
</html>
""",
}


@cache
def _template(name: str) -> jinja2.Template:
    # jinja2 is imported here, not at the top: the CLI's import of the API package stays light.
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=False,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATES[name])
