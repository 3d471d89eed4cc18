"""The one result of reading any input document: what to resolve (or the lock to build), and
what the document says about the target, the indexes and the options."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from venvd.errors import InvalidDocument

__all__ = ["KINDS", "Document", "Kind", "Provenance"]

Kind = Literal["requirements.txt", "environment.yml", "pyproject.toml", "pylock.toml"]
# Far above any request's max_requirements; bounds the parsing work of one document.
MAX_DOCUMENT_REQUIREMENTS = 10_000
KINDS: tuple[Kind, ...] = ("requirements.txt", "environment.yml", "pyproject.toml", "pylock.toml")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a requirement came from: the file and line an error about it names."""

    file: str
    line: int | None = None


@dataclasses.dataclass
class Document:
    """A parsed input document (several `-r` files merge into one with `merge`).

    - `requirements` / `constraints`: PEP 508 strings, in file order; `origins` maps each to the
      file and line it came from (for errors found later, e.g. by the resolver's parser).
    - `label`: the environment's name (conda's ``name``, pyproject's ``[project] name``).
    - `python`: the exact Python version the document asks for (conda ``python=3.X[.Y]``), or None.
    - `requires_python`: a specifier the target's Python must satisfy (pyproject), or None.
    - `index_url`, `extra_index_urls`, `find_links`, `no_index`: index options of requirement files.
    - `pre`, `only_binary`, `no_binary`: resolution options of requirement files.
    - `hashes`: canonical project name → the sha256 digests allowed for it (``--hash`` pins); a
      document with any hash (or ``--require-hashes``) is in pip's hash-checking mode (see
      `venvd.inputs.restrict_to_hashes`).
    - `direct`: hashed ``name @ URL`` references as (text, provenance); they are requirements
      too (a server takes them only from the URL prefixes it allows).
    - `lock`: the parsed pylock.toml document (a mapping) for a pylock input, else None.
    - `notices` / `warnings`: what a user should read (ignored parts; what was left out).
    """

    kind: Kind
    file: str
    requirements: list[str] = dataclasses.field(default_factory=list)
    constraints: list[str] = dataclasses.field(default_factory=list)
    origins: dict[str, Provenance] = dataclasses.field(default_factory=dict)
    label: str | None = None
    python: str | None = None
    python_origin: Provenance | None = None
    requires_python: str | None = None
    index_url: str | None = None
    extra_index_urls: list[str] = dataclasses.field(default_factory=list)
    find_links: list[str] = dataclasses.field(default_factory=list)
    no_index: bool = False
    index_origin: Provenance | None = None
    pre: bool = False
    only_binary: list[str] = dataclasses.field(default_factory=list)
    no_binary: list[str] = dataclasses.field(default_factory=list)
    hashes: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    hash_origins: dict[str, Provenance] = dataclasses.field(default_factory=dict)
    require_hashes: bool = False
    direct: list[tuple[str, Provenance]] = dataclasses.field(default_factory=list)
    lock: dict[str, Any] | None = None
    notices: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    # What `add` has listed, for repeats found in constant time.
    _requirement_set: set[str] = dataclasses.field(default_factory=set, repr=False)
    _constraint_set: set[str] = dataclasses.field(default_factory=set, repr=False)

    def error(self, message: str, line: int | None = None, **details: Any) -> InvalidDocument:
        """An InvalidDocument about this document (at `line` when known)."""
        return InvalidDocument(message, file=self.file, line=line, kind=self.kind, **details)

    def add(self, requirement: str, where: Provenance, *, constraint: bool = False) -> None:
        """Append `requirement` (a repeat of the same text is kept once, at its first place)."""
        listed, seen = ((self.constraints, self._constraint_set) if constraint
                        else (self.requirements, self._requirement_set))
        if len(seen) != len(listed):  # the list was assigned to directly
            seen.clear()
            seen.update(listed)
        if requirement not in seen:
            if len(self._requirement_set) + len(self._constraint_set) >= MAX_DOCUMENT_REQUIREMENTS:
                raise self.error(f"lists more than {MAX_DOCUMENT_REQUIREMENTS} requirements and "
                                 "constraints", where.line, limit=MAX_DOCUMENT_REQUIREMENTS)
            seen.add(requirement)
            listed.append(requirement)
        self.origins.setdefault(requirement, where)

    @property
    def hash_checking(self) -> bool:
        """pip's hash-checking mode: any ``--hash`` or ``--require-hashes`` puts every package of
        the resolution under it."""
        return self.require_hashes or bool(self.hashes)

    @property
    def has_index_options(self) -> bool:
        return bool(self.index_url or self.extra_index_urls or self.find_links or self.no_index)

    def options(self) -> dict[str, Any]:
        """The resolution options the document sets, as `RequestOptions` JSON members."""
        out: dict[str, Any] = {}
        if self.pre:
            out["prereleases"] = True
        if self.only_binary:
            out["only_binary"] = list(self.only_binary)
        if self.no_binary:
            out["no_binary"] = list(self.no_binary)
        return out

    def merge(self, other: Document) -> None:
        """Add `other` (a further `-r` file) to this document. Two documents asking for
        different Python versions: InvalidDocument naming both."""
        if self.lock is not None or other.lock is not None:
            raise other.error("a pylock.toml is a complete lock: give it alone (--lock FILE)")
        if other.python and self.python and other.python != self.python:
            raise other.error(
                f"asks for Python {other.python}, but {self.python_origin_text()} asks for "
                f"Python {self.python}", other.python_origin.line if other.python_origin else None)
        self.python = self.python or other.python
        self.python_origin = self.python_origin or other.python_origin
        if other.requires_python:
            self.requires_python = ",".join(filter(None, [self.requires_python, other.requires_python]))
        self.label = self.label or other.label
        for requirement in other.requirements:
            self.add(requirement, other.origins.get(requirement, Provenance(other.file)))
        for constraint in other.constraints:
            self.add(constraint, other.origins.get(constraint, Provenance(other.file)), constraint=True)
        self.index_url = self.index_url or other.index_url
        self.extra_index_urls += other.extra_index_urls
        self.find_links += other.find_links
        self.no_index = self.no_index or other.no_index
        self.index_origin = self.index_origin or other.index_origin
        self.pre = self.pre or other.pre
        self.only_binary += other.only_binary
        self.no_binary += other.no_binary
        for name, digests in other.hashes.items():
            self.hashes.setdefault(name, set()).update(digests)
        self.hash_origins = {**other.hash_origins, **self.hash_origins}
        self.require_hashes = self.require_hashes or other.require_hashes
        self.direct += other.direct
        self.notices += other.notices
        self.warnings += other.warnings

    def python_origin_text(self) -> str:
        origin = self.python_origin
        if origin is None:
            return self.file
        return f"{origin.file}:{origin.line}" if origin.line else origin.file
