"""Read pip-style requirement files: comments, continuations, nested `-r`/`-c`, and index options."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from venvd.errors import InputError

__all__ = ["RequirementFile", "read_requirement_file"]


@dataclasses.dataclass
class RequirementFile:
    requirements: list[str] = dataclasses.field(default_factory=list)
    constraints: list[str] = dataclasses.field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = dataclasses.field(default_factory=list)
    find_links: list[str] = dataclasses.field(default_factory=list)
    pre: bool = False


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        line = line.rstrip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        out.append((start, buffer.strip()))
    return out


def read_requirement_file(
    path: Path,
    *,
    as_constraints: bool = False,
    into: RequirementFile | None = None,
    _seen: frozenset[Path] = frozenset(),
) -> RequirementFile:
    """Parse `path`; raises InputError naming the file and line of anything it cannot take."""
    result = into or RequirementFile()
    path = path.resolve() if path.exists() else path
    if path in _seen:
        raise InputError(f"{path}: requirement files include each other in a loop")
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read requirement file {path}: {exc.strerror}") from None
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        if line.startswith("-"):
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise InputError(f"{where}: {exc}") from None
            option, _, inline = words[0].partition("=")
            value = inline or (words[1] if len(words) > 1 else "")
            if option in ("-r", "--requirement", "-c", "--constraint"):
                if not value:
                    raise InputError(f"{where}: {option} needs a file name")
                nested = (path.parent / value) if not Path(value).is_absolute() else Path(value)
                read_requirement_file(
                    nested,
                    as_constraints=as_constraints or option in ("-c", "--constraint"),
                    into=result,
                    _seen=_seen | {path},
                )
            elif option in ("-i", "--index-url"):
                result.index_url = value
            elif option == "--extra-index-url":
                result.extra_index_urls.append(value)
            elif option in ("-f", "--find-links"):
                result.find_links.append(value)
            elif option == "--pre":
                result.pre = True
            elif option in ("--hash",):
                continue
            else:
                raise InputError(f"{where}: option {option!r} is not supported in requirement files")
            continue
        requirement = line.split(" --hash", 1)[0].strip()
        (result.constraints if as_constraints else result.requirements).append(requirement)
    return result
