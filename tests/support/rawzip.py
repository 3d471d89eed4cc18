"""Zip files written byte by byte, so tests can make the local headers and the central directory
disagree (what `zipfile` never writes): `RawMember` per stored entry, `write_raw_zip` to lay them out.

    members = members_of(make_wheel(...))         # a real wheel's members, in order
    members[1].local_name = "evil/other.py"       # the local header says another name
    write_raw_zip(path, members)
"""

from __future__ import annotations

import dataclasses
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CentralRecord", "RawMember", "members_of", "write_raw_zip"]


@dataclasses.dataclass
class RawMember:
    name: str
    data: bytes
    deflate: bool = True
    # Overrides of what the local header says (None: the truth).
    local_name: str | None = None
    local_crc: int | None = None
    local_compressed: int | None = None
    local_size: int | None = None
    local_method: int | None = None


@dataclasses.dataclass
class CentralRecord:
    """One central-directory entry as written (editable by `tamper_cd`)."""

    name: str
    method: int
    crc: int
    compressed: int
    size: int
    offset: int
    external_attr: int = 0o644 << 16


def members_of(wheel: Path) -> list[RawMember]:
    with zipfile.ZipFile(wheel) as zf:
        return [RawMember(info.filename, zf.read(info)) for info in zf.infolist()]


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def write_raw_zip(path: Path, members: list[RawMember], *,
                  tamper_cd: Callable[[list[CentralRecord]], Any] | None = None,
                  gap_before: dict[int, bytes] | None = None, trailing: bytes = b"") -> Path:
    """Write `members` as local entries (with `gap_before[i]` bytes before entry i), then the
    central directory (after `tamper_cd` edited its records in place), the end record, `trailing`."""
    out = bytearray()
    records: list[CentralRecord] = []
    for i, member in enumerate(members):
        out += (gap_before or {}).get(i, b"")
        body = _deflate(member.data) if member.deflate else member.data
        method = 8 if member.deflate else 0
        crc = zlib.crc32(member.data)
        record = CentralRecord(member.name, method, crc, len(body), len(member.data), len(out))
        records.append(record)
        name = (member.local_name if member.local_name is not None else member.name).encode()
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0,
            member.local_method if member.local_method is not None else method, 0, 0x5021,
            member.local_crc if member.local_crc is not None else crc,
            member.local_compressed if member.local_compressed is not None else len(body),
            member.local_size if member.local_size is not None else len(member.data),
            len(name), 0)
        out += name + body
    if tamper_cd is not None:
        tamper_cd(records)
    cd_at = len(out)
    for record in records:
        name = record.name.encode()
        out += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 0x0314, 20, 0, record.method, 0, 0x5021,
            record.crc, record.compressed, record.size, len(name), 0, 0, 0, 0,
            record.external_attr, record.offset)
        out += name
    cd_size = len(out) - cd_at
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(records), len(records), cd_size,
                       cd_at, 0)
    out += trailing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
