"""pip requirement files: what pip accepts that makes sense for a build server.

Taken: requirement lines (PEP 508, with ``--hash=sha256:`` pins), comments and ``\\``
continuations, nested ``-r``/``-c`` (relative to the file that names them), ``-i``/
``--index-url``, ``--extra-index-url``, ``--no-index``, ``-f``/``--find-links``, ``--pre``,
``--only-binary``, ``--no-binary``, ``--require-hashes``, and ``${VAR}`` expansion of environment
variables as pip does it (only where an `environ` is given: a server never expands its own
variables into a client's document). Ignored with a notice: ``--prefer-binary`` (venvd prefers
wheels already), ``--trusted-host`` and ``--use-feature``. Refused, naming the file and line:
``-e``/``--editable`` and local paths or bare archive URLs (a server has no view of the client's
files), ``name @ URL`` without a sha256 (in its URL, ``#sha256=``, or one ``--hash``) or
not over http(s), and any other option. Hashed direct references are kept as requirements; a
server takes them only from the URL prefixes it allows (see `venvd.inputs._direct`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from venvd.errors import InvalidDocument
from venvd.inputs._document import Document, Provenance

__all__ = ["Opener", "parse_requirements_text", "read_requirements_file", "read_text"]

# (path named by a -r/-c line, the file naming it) → its text; None where nested files cannot be
# read (a document posted to the API).
Opener = Callable[[Path], str] | None

# pip's own pattern: only upper-case names in ${...} are expanded.
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_ALGORITHMS = ("sha256", "sha384", "sha512")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")
_MAX_NESTING = 20


def read_requirements_file(path: Path, *, constraints: bool = False,
                           environ: Mapping[str, str] | None = None) -> Document:
    """Read `path` (and the files it names) from disk; InvalidDocument naming file and line."""
    doc = Document(kind="requirements.txt", file=str(path))
    _read(path, doc, constraints=constraints, seen=(), opener=read_text, environ=environ)
    return doc


def parse_requirements_text(text: str, file: str = "requirements.txt", *,
                            environ: Mapping[str, str] | None = None,
                            opener: Opener = None) -> Document:
    """Parse requirement-file `text` (named `file` in errors); nested ``-r``/``-c`` lines are
    read with `opener`, or refused when it is None."""
    doc = Document(kind="requirements.txt", file=file)
    _parse(text, Path(file), doc, constraints=False, seen=(), opener=opener, environ=environ)
    return doc


def read_text(path: Path) -> str:
    """The UTF-8 text of an input file; InvalidDocument naming it when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidDocument("no such file", file=str(path), kind="requirements.txt") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidDocument(f"cannot read it: {reason}", file=str(path),
                              kind="requirements.txt") from None


def _read(path: Path, doc: Document, *, constraints: bool, seen: tuple[Path, ...],
          opener: Opener, environ: Mapping[str, str] | None) -> None:
    assert opener is not None
    _parse(opener(path), path, doc, constraints=constraints, seen=seen, opener=opener,
           environ=environ)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: comments removed, ``\\`` lines joined."""
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
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


def _parse(text: str, path: Path, doc: Document, *, constraints: bool, seen: tuple[Path, ...],
           opener: Opener, environ: Mapping[str, str] | None) -> None:
    file = str(path)
    if len(seen) > _MAX_NESTING:
        raise InvalidDocument(f"requirement files nest more than {_MAX_NESTING} deep", file=file)
    for number, line in logical_lines(text):
        if environ is not None:
            line = _ENV_VAR.sub(lambda m: environ.get(m.group(1), m.group(0)), line)

        def fail(message: str, line_number: int = number) -> InvalidDocument:
            return InvalidDocument(message, file=file, line=line_number, kind="requirements.txt")

        if line.startswith("-"):
            _option(line, path, doc, fail, constraints=constraints, seen=seen, opener=opener,
                    environ=environ, where=Provenance(file, number))
        else:
            _requirement(line, doc, fail, constraints=constraints, where=Provenance(file, number))


def _option(line: str, path: Path, doc: Document, fail: Callable[[str], InvalidDocument], *,
            constraints: bool, seen: tuple[Path, ...], opener: Opener,
            environ: Mapping[str, str] | None, where: Provenance) -> None:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise fail(f"cannot split {line!r}: {exc}") from None
    option, eq, inline = words[0].partition("=")
    if not eq and len(option) > 2 and option[1] != "-" and option[:2] in ("-r", "-c", "-i", "-f", "-e"):
        option, inline = option[:2], option[2:]  # pip takes "-rfile" too
    value = inline or (words[1] if len(words) > 1 else "")
    if option in ("-r", "--requirement", "-c", "--constraint"):
        if not value:
            raise fail(f"{option} needs a file name")
        if opener is None:
            raise fail(f"{option} {value} names another file, which a document sent to a server "
                       "cannot do: send that file's lines in the document")
        nested = Path(value) if Path(value).is_absolute() else path.parent / value
        resolved = nested.resolve()
        if resolved in seen:
            raise fail(f"{option} {value}: requirement files include each other in a loop")
        _read(nested, doc, constraints=constraints or option in ("-c", "--constraint"),
              seen=(*seen, path.resolve()), opener=opener, environ=environ)
    elif option in ("-i", "--index-url"):
        doc.index_url = _needs(value, option, fail)
        doc.index_origin = doc.index_origin or where
    elif option == "--extra-index-url":
        doc.extra_index_urls.append(_needs(value, option, fail))
        doc.index_origin = doc.index_origin or where
    elif option in ("-f", "--find-links"):
        link = _needs(value, option, fail)
        if opener is not None and "://" not in link and not Path(link).is_absolute():
            link = str(path.parent / link)  # as pip does: relative to the file naming it
        doc.find_links.append(link)
        doc.index_origin = doc.index_origin or where
    elif option == "--no-index":
        doc.no_index = True
        doc.index_origin = where  # the line an error about index options should name
    elif option == "--pre":
        doc.pre = True
    elif option == "--only-binary":
        doc.only_binary.append(_needs(value, option, fail))
    elif option == "--no-binary":
        doc.no_binary.append(_needs(value, option, fail))
    elif option == "--require-hashes":
        doc.require_hashes = True
    elif option in ("--prefer-binary", "--trusted-host", "--use-feature"):
        doc.notices.append(f"{where.file}:{where.line}: {option} ignored"
                           + (" (venvd prefers wheels already)" if option == "--prefer-binary" else ""))
    elif option in ("-e", "--editable"):
        raise fail(f"editable requirement {value or line!r}: a server builds from indexes, not from "
                   "your working tree (publish the project, or list its dependencies)")
    else:
        raise fail(f"option {option!r} is not supported in requirement files")


def _needs(value: str, option: str, fail: Callable[[str], InvalidDocument]) -> str:
    if not value:
        raise fail(f"{option} needs a value")
    return value


def _requirement(line: str, doc: Document, fail: Callable[[str], InvalidDocument], *,
                 constraints: bool, where: Provenance) -> None:
    text, hashes = _split_hashes(line, fail)
    if _looks_local(text):
        raise fail(f"{text!r} is a local path or a bare URL: a server installs only named "
                   "requirements from its indexes")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise fail(f"{text!r} is not a valid requirement: {str(exc).splitlines()[0]}") from None
    if req.url:
        _direct(req, hashes, doc, fail, constraints=constraints, where=where)
        return
    if hashes:
        pins = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if len(pins) != 1:
            raise fail(f"{text!r} has --hash but is not pinned with ==: hash-checked "
                       "requirements must name one version, as pip requires")
        name = canonicalize_name(req.name)
        doc.hashes.setdefault(name, set()).update(hashes)
        doc.hash_origins.setdefault(name, where)
    doc.add(text, where, constraint=constraints)


def _direct(req: Requirement, hashes: set[str], doc: Document,
            fail: Callable[[str], InvalidDocument], *, constraints: bool,
            where: Provenance) -> None:
    """A ``name @ URL`` line: its hash in the URL (``#sha256=``) or as one ``--hash``; kept in
    canonical form (``name[extras] @ URL#sha256=HEX ; marker``), the server decides whether it
    fetches that URL (`venvd.inputs.DirectURLPolicy`)."""
    from venvd.inputs._direct import DirectError, parse_direct

    text = str(req)
    if constraints:
        raise fail(f"direct reference {text!r} in a constraints file: constraints narrow "
                   "versions of named requirements, they cannot name a URL")
    if len(hashes) > 1:
        raise fail(f"direct reference {text!r} has several --hash values: one file, one sha256")
    try:
        reference = parse_direct(req, next(iter(hashes), None))
    except DirectError as exc:
        raise fail(f"direct reference {text!r}: {exc}") from None
    req.url = reference.hashed_url
    if hashes:  # a --hash puts the document in hash-checking mode, as pip does
        doc.hashes.setdefault(reference.name, set()).add(reference.sha256)
        doc.hash_origins.setdefault(reference.name, where)
    canonical = str(req)
    doc.direct.append((canonical, where))
    doc.add(canonical, where)


def _split_hashes(line: str, fail: Callable[[str], InvalidDocument]) -> tuple[str, set[str]]:
    """The requirement text and the sha256 digests of its ``--hash`` options."""
    head, *rest = re.split(r"\s+(?=--)", line)
    hashes: set[str] = set()
    for option in rest:
        name, _, value = option.partition("=")
        if name != "--hash":
            raise fail(f"per-requirement option {name!r} is not supported")
        algorithm, _, digest = value.strip().partition(":")
        if algorithm not in _HASH_ALGORITHMS or not digest:
            raise fail(f"--hash {value!r} is not ALGORITHM:DIGEST")
        if algorithm != "sha256":
            raise fail(f"--hash {algorithm}: venvd checks files by sha256 only; "
                       "give the sha256 hash (pip hash -a sha256 FILE)")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise fail(f"--hash sha256:{digest} is not 64 hexadecimal digits")
        hashes.add(digest.lower())
    return head.strip(), hashes


def _looks_local(text: str) -> bool:
    head = text.split(";", 1)[0].strip()
    if " @ " in head or "@" in head.split("://", 1)[0]:
        return False  # name @ URL: a direct reference, handled by its own rule
    return (head.startswith((".", "/", "~", "file:")) or "://" in head
            or head.lower().endswith(_ARCHIVE_SUFFIXES) or "\\" in head)
