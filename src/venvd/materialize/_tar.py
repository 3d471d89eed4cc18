"""A strict streaming reader of the tar subset venvd archives are made of.

`tarfile` parses a header in about 50 µs of Python; a large environment has tens of thousands of
members, so on a fast disk reading headers costs more than writing the files. This reader knows
only what the builder writes (`venvd.builder` uses `tarfile.PAX_FORMAT`) and refuses the rest:

- POSIX ustar headers (magic ``ustar\\0`` version ``00``), octal numbers, a valid checksum;
  names are UTF-8 (prefix + "/" + name).
- PAX extended headers (type ``x``) whose ``path``, ``linkpath`` and ``size`` apply to the next
  member (other keys such as ``mtime`` are ignored; ``GNU.sparse.*`` is refused).
- Regular files (``0``, or NUL; NUL with a trailing "/" is a directory, as in `tarfile`) and
  directories (``5``) are the members a caller extracts. Hard and symbolic links, devices and
  fifos (``1``-``4``, ``6``) are returned as such, names and link targets included, for the caller
  to refuse by name; any other type (GNU long names, global PAX headers, sparse or contiguous
  files ...) raises.
- The archive ends with a zero block; a stream ending anywhere else raises (where `tarfile`'s
  stream mode stops quietly at an unreadable header, this reader never returns a silently
  shortened archive).

Members are `tarfile.TarInfo` objects, so callers can check them the same way whichever reader
made them. Everything malformed raises `UnsafeArchive`.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from venvd.materialize._paths import UnsafeArchive

__all__ = ["TarReader"]

_BLOCK = 512
_READ = 1024 * 1024
_POSIX_MAGIC = b"ustar\x0000"
_ZERO_BLOCK = bytes(_BLOCK)
_MAX_PAX = 1024 * 1024  # an extended header holds a path or two, never this much
# Types returned to the caller; anything else in an archive is refused here.
_RETURNED = frozenset(b"0123456\x00")


class TarReader:
    """Members of the tar stream in `raw`, in order; each member's data is readable once, before
    the next call to `next`."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._buf = b""
        self._pos = 0
        self._left = 0  # bytes of the current member's data not yet read
        self._pad = 0  # then zero bytes up to the next block
        self._done = False

    def next(self) -> tarfile.TarInfo | None:
        """The next member, or None at the end of the archive."""
        if self._done:
            return None
        self._skip(self._left + self._pad)
        self._left = self._pad = 0
        block = self._take(_BLOCK, "a member header")
        if block == _ZERO_BLOCK:
            self._done = True
            return None
        info = _header(block)
        if info.type == tarfile.XHDTYPE:
            if info.size > _MAX_PAX:
                raise UnsafeArchive(f"an extended header is implausibly large ({info.size} bytes)")
            records = _pax_records(self._take(info.size, "an extended header"))
            self._skip(-info.size % _BLOCK)
            block = self._take(_BLOCK, "a member header")
            if block == _ZERO_BLOCK:
                raise UnsafeArchive("the archive ends after an extended header")
            info = _header(block)
            if info.type == tarfile.XHDTYPE:
                raise UnsafeArchive("two extended headers in a row")
            _apply(info, records)
        # As in tarfile: only regular files have data, whatever the size field of others says.
        size = info.size if info.isreg() else 0
        self._left, self._pad = size, -size % _BLOCK
        return info

    def extractfile(self, member: tarfile.TarInfo) -> _MemberData:
        """The data of `member`, the member `next` returned last."""
        return _MemberData(self)

    def read_data(self, size: int) -> bytes:
        """Up to `size` (-1: all) of the current member's remaining data."""
        n = self._left if size < 0 else min(size, self._left)
        data = self._take(n, "a member's data") if n else b""
        self._left -= n
        return data

    def _take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end <= len(self._buf):
            data = self._buf[self._pos:end]
            self._pos = end
            return data
        parts = [self._buf[self._pos:]]
        have = len(parts[0])
        while have < n:
            chunk = self._raw.read(max(_READ, n - have))
            if not chunk:
                raise UnsafeArchive(f"the archive is truncated (it ends inside {what})")
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buf, self._pos = joined, n
        return joined[:n]

    def _skip(self, n: int) -> None:
        while n > 0:
            available = len(self._buf) - self._pos
            if n <= available:
                self._pos += n
                return
            n -= available
            self._buf, self._pos = self._raw.read(max(_READ, min(n, 64 * _READ))), 0
            if not self._buf:
                raise UnsafeArchive("the archive is truncated (it ends inside a member's data)")


class _MemberData:
    """What `TarReader.extractfile` returns: the current member's data, read once."""

    def __init__(self, reader: TarReader) -> None:
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        return self._reader.read_data(size)


def _header(block: bytes) -> tarfile.TarInfo:
    if block[257:265] != _POSIX_MAGIC:
        raise UnsafeArchive("a member header is not a POSIX ustar header")
    checksum = _octal(block[148:156], "checksum")
    # The checksum field counts as 8 spaces; some writers sum signed bytes (as tarfile accepts).
    if (checksum != 256 + sum(block[:148]) + sum(block[156:])
            and checksum != _signed_checksum(block)):
        raise UnsafeArchive("a member header has a bad checksum")
    kind = block[156]
    if kind not in _RETURNED and kind != ord("x"):
        raise UnsafeArchive(f"a member is of an unsupported tar type {chr(kind)!r}")
    name = _text(block[0:100])
    prefix = _text(block[345:500])
    if prefix:
        name = f"{prefix}/{name}"
    info = tarfile.TarInfo(name)
    info.type = bytes([kind]) if kind else tarfile.REGTYPE
    if kind == 0 and name.endswith("/"):
        info.type = tarfile.DIRTYPE
    if info.type == tarfile.DIRTYPE:
        info.name = name.rstrip("/")
    info.mode = _octal(block[100:108], "mode")
    info.size = _octal(block[124:136], "size")
    info.linkname = _text(block[157:257])
    return info


def _signed_checksum(block: bytes) -> int:
    return 256 + sum(b - 256 if b >= 128 else b for b in block[:148] + block[156:])


def _octal(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:
        raise UnsafeArchive(f"a member header's {what} is a base-256 number")
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise UnsafeArchive(f"a member header's {what} is not an octal number") from None


def _text(field: bytes) -> str:
    try:
        return field.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeArchive("a member header holds a name that is not UTF-8") from None


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<length> <key>=<value>\\n"`` records (POSIX pax format)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 20)
        digits = data[pos:space] if space != -1 else b""
        if not digits.isdigit():
            raise UnsafeArchive("an extended header is malformed")
        end = pos + int(digits)
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if end > len(data) or data[end - 1:end] != b"\n" or not eq or end <= space + 1:
            raise UnsafeArchive("an extended header is malformed")
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeArchive("an extended header holds text that is not UTF-8") from None
        pos = end
    return records


def _apply(info: tarfile.TarInfo, records: dict[str, str]) -> None:
    if any(key.startswith("GNU.sparse.") for key in records):
        raise UnsafeArchive(f"member {info.name!r} is a sparse file")
    if "path" in records:
        info.name = records["path"].rstrip("/") if info.type == tarfile.DIRTYPE else records["path"]
    if "linkpath" in records:
        info.linkname = records["linkpath"]
    if "size" in records:
        if not records["size"].isdigit():
            raise UnsafeArchive(f"member {info.name!r} has a malformed size")
        info.size = int(records["size"])
