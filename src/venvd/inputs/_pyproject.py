"""``pyproject.toml``: a project's declared dependencies, as a build server can resolve them.

- ``[project] dependencies`` always; ``[project.optional-dependencies]`` for the `extras` asked
  (or all of them); a requirement naming the project itself with extras (``me[test]``, as uv and
  pip allow) adds those extras' requirements instead of the project.
- PEP 735 ``[dependency-groups]`` for the `groups` asked, ``{include-group = ...}`` included
  (packaging's resolver: cycles and malformed groups are errors).
- ``requires-python`` becomes the document's `requires_python`, checked against the target by
  `venvd.inputs.check_target`. ``[project] name`` is the label.

Dynamic dependencies cannot be read without building the project: an error says so. TOML has no
line numbers once parsed, so errors name the table and key, plus the line where the offending
text first appears in the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd.inputs._document import Document, Provenance

__all__ = ["parse_pyproject"]


def load_toml(doc: Document, text: str) -> dict[str, Any]:
    """`text` as TOML; InvalidDocument with tomllib's line for a syntax error."""
    import re

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        if line is None and "end of document" in str(exc):
            line = len(text.splitlines()) or None  # something left open at the end
        raise doc.error(f"not valid TOML: {str(exc).split(' (at')[0]}", line) from None


def line_of(text: str, needle: str) -> int | None:
    """The first line of `text` containing `needle` (TOML keeps no positions)."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def parse_pyproject(text: str, file: str = "pyproject.toml", *, extras: Iterable[str] = (),
                    all_extras: bool = False, groups: Iterable[str] = ()) -> Document:
    """The requirements `text` declares for `extras` and `groups`; InvalidDocument naming what is
    wrong (an unknown extra or group lists the known ones)."""
    doc = Document(kind="pyproject.toml", file=file)
    data = load_toml(doc, text)
    project = data.get("project")
    if project is not None and not isinstance(project, dict):
        raise doc.error("[project] must be a table", line_of(text, "project"))
    project = project or {}
    groups_table = data.get("dependency-groups")
    if not project and groups_table is None:
        raise doc.error("neither a [project] table nor [dependency-groups]: nothing to install")
    name = project.get("name")
    self_name = canonicalize_name(name) if isinstance(name, str) else None
    doc.label = name if isinstance(name, str) else None
    dynamic = project.get("dynamic")
    dynamic = dynamic if isinstance(dynamic, list) else []
    for key in ("dependencies", "optional-dependencies"):
        if key in dynamic:
            raise doc.error(f"[project] {key} are dynamic (computed by the build backend): venvd "
                            "reads only dependencies written in pyproject.toml",
                            line_of(text, "dynamic"))
    requires_python = project.get("requires-python")
    if requires_python is not None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            doc.requires_python = str(SpecifierSet(str(requires_python)))
        except InvalidSpecifier:
            raise doc.error(f"[project] requires-python {requires_python!r} is not a version "
                            "specifier", line_of(text, "requires-python")) from None
    optional = project.get("optional-dependencies") or {}
    if not isinstance(optional, dict):
        raise doc.error("[project.optional-dependencies] must be a table",
                        line_of(text, "optional-dependencies"))
    known_extras = {canonicalize_name(k): k for k in optional}
    wanted = list(known_extras) if all_extras else [canonicalize_name(e) for e in extras]
    unknown = [e for e in wanted if e not in known_extras]
    if unknown:
        raise doc.error(f"no extra {', '.join(map(repr, unknown))} in [project.optional-dependencies]"
                        f" (it has: {', '.join(sorted(known_extras)) or 'none'})",
                        extras=sorted(known_extras))
    taken: set[str] = set()

    def add(items: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise doc.error(f"{where} must be a list of requirement strings", line_of(text, where))
        for item in items:
            req = _requirement(doc, text, item, where)
            if self_name is not None and canonicalize_name(req.name) == self_name:
                # `me[test]` in me's own lists: the extras' requirements, not the project itself
                for extra in sorted(canonicalize_name(e) for e in req.extras):
                    if extra not in known_extras:
                        raise doc.error(f"{where}: {item!r} names an extra {extra!r} the project "
                                        "does not have", line_of(text, item))
                    if extra not in seen:
                        add(optional[known_extras[extra]], f"optional-dependencies.{extra}",
                            seen | {extra})
                continue
            if item not in taken:
                taken.add(item)
                doc.add(item, Provenance(file))  # lines are looked up for errors only

    add(project.get("dependencies") or [], "dependencies", frozenset())
    for extra in wanted:
        add(optional[known_extras[extra]], f"optional-dependencies.{extra}", frozenset({extra}))
    for requirement in _groups(doc, text, groups_table, list(groups)):
        if requirement not in taken:
            taken.add(requirement)
            if "@" in requirement:  # a direct reference: its form checked, its line kept
                _requirement(doc, text, requirement, "dependency-groups")
            doc.add(requirement, Provenance(file))
    return doc


def _requirement(doc: Document, text: str, item: str, where: str) -> Requirement:
    try:
        req = Requirement(item)
    except InvalidRequirement as exc:
        raise doc.error(f"{where}: {item!r} is not a valid requirement: "
                        f"{str(exc).splitlines()[0]}", line_of(text, item)) from None
    if req.url:
        from venvd.inputs._direct import DirectError, parse_direct

        try:
            parse_direct(req)
        except DirectError as exc:
            raise doc.error(f"{where}: direct reference {item!r}: {exc}",
                            line_of(text, item)) from None
        doc.direct.append((item, Provenance(doc.file, line_of(text, item))))
    return req


def _groups(doc: Document, text: str, table: Any, wanted: list[str]) -> list[str]:
    if not wanted:
        return []
    if not isinstance(table, Mapping):
        raise doc.error(f"no [dependency-groups] table, so no group {wanted[0]!r}",
                        groups=[])
    from packaging.dependency_groups import DependencyGroupResolver

    try:
        resolver = DependencyGroupResolver(table)
    except Exception as exc:  # packaging raises ValueError or an ExceptionGroup of them
        raise doc.error(f"[dependency-groups] is invalid: {_first_message(exc)}",
                        line_of(text, "dependency-groups")) from None
    known = {canonicalize_name(k) for k in table}
    out: list[str] = []
    for group in wanted:
        if canonicalize_name(group) not in known:
            raise doc.error(f"no dependency group {group!r} (it has: "
                            f"{', '.join(sorted(known)) or 'none'})", groups=sorted(known))
        try:
            out.extend(str(r) for r in resolver.resolve(group))
        except Exception as exc:
            raise doc.error(f"[dependency-groups] {group!r}: {_first_message(exc)}",
                            line_of(text, f"{group} =") or line_of(text, group)) from None
    return out


def _first_message(exc: BaseException) -> str:
    """The first leaf of an exception group (packaging collects group errors), else the text."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
