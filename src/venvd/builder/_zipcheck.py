"""`check_wheel_zip`: a wheel's zip structure is read once, strictly, before anything is extracted.

Two zip readers can see different files in the same bytes (uv's CVE-2025-54368): a streaming reader
walks the local headers, `zipfile` trusts the central directory. A wheel is accepted only when both
views are the same archive:

- exactly one end-of-central-directory record, at the very end (no trailing bytes, no comment games);
  zip64 records when the counts or offsets need them;
- the central directory starts exactly where the last entry ends and ends exactly at the (zip64)
  end record, and holds as many entries as the end record says;
- entries are laid out back to back from offset 0 in central-directory order: no gap, overlap or
  reordering, so no bytes are hidden between entries and no entry is read twice;
- each local header agrees with its central-directory entry on name, compression method, CRC-32 and
  sizes (or, when the header defers them to a data descriptor, the descriptor agrees);
- names are unique, not encrypted, compressed with stored/deflate/bzip2/lzma;
- the total expanded size and each entry's expansion ratio stay within the given bounds.

`zipfile` then checks each member's CRC against the bytes it inflates, and never inflates more than
the central directory's size, so the bounds hold for what is really written.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["UnsafeZip", "check_wheel_zip"]

_EOCD = struct.Struct("<4sHHHHIIH")  # sig, disk, cd disk, entries here, entries, cd size, cd offset, comment
_EOCD64_LOCATOR = struct.Struct("<4sIQI")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_SIG_EOCD = b"PK\x05\x06"
_SIG_EOCD64 = b"PK\x06\x06"
_SIG_LOCATOR = b"PK\x06\x07"
_SIG_CENTRAL = b"PK\x01\x02"
_SIG_LOCAL = b"PK\x03\x04"
_SIG_DESCRIPTOR = b"PK\x07\x08"
_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}
_FLAG_ENCRYPTED = 0x1
_FLAG_DESCRIPTOR = 0x8
# Small members compress absurdly well (a file of spaces); the ratio bound is for bombs.
_RATIO_FLOOR = 1024 * 1024


class UnsafeZip(Exception):
    """The zip is malformed, ambiguous or too large when expanded; the message says what."""


@dataclasses.dataclass(slots=True)
class _Entry:
    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int

    @property
    def label(self) -> str:
        return repr(self.name.decode("utf-8", "replace"))


def check_wheel_zip(path: Path, *, max_expanded: int, max_ratio: float) -> None:
    """Raise UnsafeZip unless `path` is an unambiguous zip within the bounds (module docstring)."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        cd_offset, cd_size, count, cd_end = _end_records(f, size)
        if cd_offset + cd_size != cd_end:
            raise UnsafeZip("its central directory does not end where the end record is")
        entries = _central_directory(f, cd_offset, cd_size, count)
        _check_bounds(entries, max_expanded, max_ratio)
        position = 0
        for entry in entries:
            if entry.offset != position:
                what = "overlaps the previous one" if entry.offset < position else (
                    "leaves unlisted bytes before it")
                raise UnsafeZip(f"entry {entry.label} at offset {entry.offset} {what} "
                                f"(expected offset {position})")
            position = _local_entry(f, entry)
        if position != cd_offset:
            raise UnsafeZip(f"{cd_offset - position} unlisted bytes lie before its central directory"
                            if position < cd_offset else "its last entry overlaps the central "
                            "directory")


def _end_records(f: BinaryIO, size: int) -> tuple[int, int, int, int]:
    """(central directory offset, size, entry count, offset where the central directory must end)."""
    if size < _EOCD.size:
        raise UnsafeZip("it is too short to be a zip file")
    tail_start = max(0, size - (_EOCD.size + 0xFFFF))
    f.seek(tail_start)
    tail = f.read()
    found = [i for i in range(len(tail) - _EOCD.size, -1, -1)
             if tail[i:i + 4] == _SIG_EOCD
             and i + _EOCD.size + _EOCD.unpack_from(tail, i)[7] == len(tail)]
    if not found:
        raise UnsafeZip("it has no end-of-central-directory record at its end")
    if len(found) > 1:
        raise UnsafeZip("it has more than one end-of-central-directory record")
    eocd_at = tail_start + found[0]
    _sig, disk, cd_disk, here, count, cd_size, cd_offset, _comment = _EOCD.unpack_from(
        tail, found[0])
    if disk or cd_disk or here != count:
        raise UnsafeZip("it spans several disks")
    # zipfile uses a zip64 record whenever its locator is there, needed or not: so do we.
    locator_at = eocd_at - _EOCD64_LOCATOR.size
    has_locator = False
    if locator_at >= 0:
        f.seek(locator_at)
        has_locator = f.read(4) == _SIG_LOCATOR
    if not has_locator:
        if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
            raise UnsafeZip("its zip64 end record locator is missing")
        return cd_offset, cd_size, count, eocd_at
    f.seek(locator_at)
    sig, _disk, record_at, _disks = _EOCD64_LOCATOR.unpack(f.read(_EOCD64_LOCATOR.size))
    if sig != _SIG_LOCATOR or record_at + _EOCD64.size > locator_at:
        raise UnsafeZip("its zip64 end record locator is invalid")
    f.seek(record_at)
    record = f.read(_EOCD64.size)
    (sig, record_size, _v, _need, disk64, cd_disk64, here64, count64, cd_size64,
     cd_offset64) = _EOCD64.unpack(record)
    if sig != _SIG_EOCD64 or record_at + 12 + record_size != locator_at:
        raise UnsafeZip("its zip64 end record is invalid")
    if disk64 or cd_disk64 or here64 != count64:
        raise UnsafeZip("it spans several disks")
    for small, big in ((count, count64), (cd_size, cd_size64), (cd_offset, cd_offset64)):
        if small not in (0xFFFF, 0xFFFFFFFF) and small != big:
            raise UnsafeZip("its end record and zip64 end record disagree")
    return cd_offset64, cd_size64, count64, record_at


def _central_directory(f: BinaryIO, offset: int, size: int, count: int) -> list[_Entry]:
    if size > 256 * 1024 * 1024 or count > size // _CENTRAL.size:
        raise UnsafeZip("its central directory is implausibly large")
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise UnsafeZip("its central directory is truncated")
    entries: list[_Entry] = []
    seen: set[bytes] = set()
    at = 0
    for _ in range(count):
        if at + _CENTRAL.size > size:
            raise UnsafeZip("its central directory has fewer entries than its end record says")
        (sig, _made, _need, flags, method, _time, _date, crc, compressed, expanded, name_len,
         extra_len, comment_len, _disk, _internal, _external, local) = _CENTRAL.unpack_from(data, at)
        if sig != _SIG_CENTRAL:
            raise UnsafeZip(f"its central directory is corrupt at byte {offset + at}")
        name_at = at + _CENTRAL.size
        name = data[name_at:name_at + name_len]
        extra = data[name_at + name_len:name_at + name_len + extra_len]
        at = name_at + name_len + extra_len + comment_len
        if at > size:
            raise UnsafeZip("its central directory is truncated")
        expanded, compressed, local = _zip64_values(extra, expanded, compressed, local)
        entry = _Entry(name, flags, method, crc, compressed, expanded, local)
        if name in seen:
            raise UnsafeZip(f"entry {entry.label} is listed twice")
        seen.add(name)
        if flags & _FLAG_ENCRYPTED:
            raise UnsafeZip(f"entry {entry.label} is encrypted")
        if method not in _METHODS:
            raise UnsafeZip(f"entry {entry.label} uses unsupported compression method {method}")
        entries.append(entry)
    if at != size:
        raise UnsafeZip("its central directory has more entries than its end record says")
    return entries


def _zip64_values(extra: bytes, expanded: int, compressed: int,
                  local: int) -> tuple[int, int, int]:
    """Sizes and offset, taking the zip64 extra field's values for those saturated at 0xFFFFFFFF."""
    wanted = [v == 0xFFFFFFFF for v in (expanded, compressed, local)]
    if not any(wanted):
        return expanded, compressed, local
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4:at + 4 + length]
        at += 4 + length
        if tag != 0x0001:
            continue
        values = [expanded, compressed, local]
        pos = 0
        for i, want in enumerate(wanted):
            if want:
                if pos + 8 > len(body):
                    raise UnsafeZip("a zip64 extra field is truncated")
                values[i] = struct.unpack_from("<Q", body, pos)[0]
                pos += 8
        return values[0], values[1], values[2]
    raise UnsafeZip("an entry needs a zip64 extra field and has none")


def _check_bounds(entries: list[_Entry], max_expanded: int, max_ratio: float) -> None:
    total = 0
    for entry in entries:
        total += entry.size
        if total > max_expanded:
            raise UnsafeZip(f"it expands to more than {max_expanded} bytes "
                            f"(setting max_wheel_expanded_size)")
        if entry.size > _RATIO_FLOOR and entry.size > max_ratio * max(entry.compressed, 1):
            raise UnsafeZip(f"entry {entry.label} expands {entry.size} bytes from "
                            f"{entry.compressed} (ratio above {max_ratio:g}, setting "
                            f"max_wheel_expansion_ratio)")


def _local_entry(f: BinaryIO, entry: _Entry) -> int:
    """Check the local header of `entry` against it; the offset just after its data (descriptor)."""
    f.seek(entry.offset)
    header = f.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        raise UnsafeZip(f"entry {entry.label} points past the end of the file")
    (sig, _need, flags, method, _time, _date, crc, compressed, expanded, name_len,
     extra_len) = _LOCAL.unpack(header)
    if sig != _SIG_LOCAL:
        raise UnsafeZip(f"entry {entry.label} has no local header at offset {entry.offset}")
    name = f.read(name_len)
    extra = f.read(extra_len)
    if name != entry.name:
        raise UnsafeZip(f"entry {entry.label} is named "
                        f"{name.decode('utf-8', 'replace')!r} in its local header")
    if method != entry.method:
        raise UnsafeZip(f"entry {entry.label} has compression method {method} in its local header "
                        f"and {entry.method} in the central directory")
    if (flags ^ entry.flags) & (_FLAG_ENCRYPTED | _FLAG_DESCRIPTOR):
        raise UnsafeZip(f"entry {entry.label} has other flags in its local header")
    data_at: int = entry.offset + _LOCAL.size + name_len + extra_len
    end = data_at + entry.compressed
    if flags & _FLAG_DESCRIPTOR:
        # Sizes and CRC follow the data; the header's must be zero or the real ones.
        if (crc, compressed, expanded) not in ((0, 0, 0), (entry.crc, entry.compressed,
                                                           entry.size)):
            raise UnsafeZip(f"entry {entry.label}'s local header disagrees with the central "
                            "directory on CRC or sizes")
        return _descriptor(f, entry, end)
    if compressed == 0xFFFFFFFF or expanded == 0xFFFFFFFF:
        expanded, compressed, _ = _zip64_values(extra, expanded, compressed, 0)
    if (crc, compressed, expanded) != (entry.crc, entry.compressed, entry.size):
        raise UnsafeZip(f"entry {entry.label}'s local header disagrees with the central "
                        f"directory on CRC or sizes")
    return end


def _descriptor(f: BinaryIO, entry: _Entry, at: int) -> int:
    f.seek(at)
    raw = f.read(24)
    body = raw[4:] if raw[:4] == _SIG_DESCRIPTOR else raw
    skip = len(raw) - len(body)
    for fmt, length in (("<IQQ", 20), ("<III", 12)):
        if len(body) >= length and struct.unpack_from(fmt, body) == (
                entry.crc, entry.compressed, entry.size):
            return at + skip + length
    raise UnsafeZip(f"entry {entry.label}'s data descriptor disagrees with the central directory")
