"""Find and read one member of a remote zip (a wheel's METADATA) without parsing every entry.

`zipfile.ZipFile` builds a `ZipInfo` for every entry of the central directory (decoding each name,
parsing each extra field). A wheel of botocore or jupyterlab lists thousands of files, and a cold
resolution reads the METADATA of thousands of such wheels by HTTP ranges: building those objects
was most of the CPU of fetching metadata (2.6-7 ms a botocore wheel, where the bytes cost well under
one). Here the directory is searched for the member's name with `bytes.find`, and only the entries
whose names end with it are decoded.

The contract is an equivalence with zipfile, checked by tests/index/test_zip_directory.py: when
these functions return a value, it is what zipfile gives for the same bytes; anything they do not
handle exactly (zip64, multi-disk or prefixed archives, encryption, a compression other than stored
or deflate, a name found twice, a size or CRC that does not check out) gives None, and the caller
then reads the archive with zipfile as before, which decides (and words any error).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable
from typing import Literal

from packaging.utils import canonicalize_name

from venvd.dist import DistFile

from ._lazy_zip import RemoteFile
from ._metadata import MAX_METADATA_SIZE

__all__ = ["DirectoryEntry", "end_of_directory", "entries_ending_with", "read_entry",
           "wheel_metadata_by_directory"]

_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_CENTRAL = b"PK\x01\x02"
_CENTRAL_SIZE = 46
_LOCAL = b"PK\x03\x04"
_LOCAL_SIZE = 30
_UTF8_FLAG = 0x800
# Encrypted, compressed patched data, strong encryption: zipfile refuses these.
_UNSUPPORTED_FLAGS = 0x1 | 0x20 | 0x40
_STORED, _DEFLATED = 0, 8
_FULL32 = 0xFFFFFFFF


@dataclasses.dataclass(frozen=True)
class DirectoryEntry:
    """The central directory's record of one member."""

    name: str
    raw_name: bytes
    header_offset: int
    compress_size: int
    file_size: int
    method: int
    crc: int
    flags: int


def end_of_directory(tail: bytes, size: int) -> tuple[int, int] | None:
    """(offset, size) of the central directory, from the last `len(tail)` bytes of a zip file of
    `size` bytes; None when the end record is not in `tail` or describes an archive zipfile reads
    differently (zip64, several disks, data before the archive)."""
    # zipfile takes the last signature in the tail (a comment may hold one: then it reads garbage
    # and refuses the archive); this answers only when that one is consistent.
    at = tail.rfind(_END)
    if at < 0 or len(tail) - at < _END_SIZE:
        return None
    (_sig, disk, cd_disk, entries_here, entries, cd_size, cd_offset,
     comment_length) = struct.unpack_from("<4sHHHHIIH", tail, at)
    if at + _END_SIZE + comment_length != len(tail):
        return None
    if at >= _ZIP64_LOCATOR_SIZE and \
            tail[at - _ZIP64_LOCATOR_SIZE: at - _ZIP64_LOCATOR_SIZE + 4] == _ZIP64_LOCATOR:
        return None
    if disk or cd_disk or entries_here != entries or _FULL32 in (cd_size, cd_offset) \
            or entries == 0xFFFF:
        return None
    end_at = size - len(tail) + at
    if cd_offset + cd_size != end_at:  # bytes before the archive: zipfile shifts every offset
        return None
    return cd_offset, cd_size


def entries_ending_with(directory: bytes, suffix: str) -> list[DirectoryEntry] | None:
    """Every entry of the central directory `directory` whose name ends with `suffix` (ASCII), in
    directory order; None when an occurrence of `suffix` cannot be tied to exactly one well-formed
    entry ending there."""
    wanted = suffix.encode("ascii")
    found: list[DirectoryEntry] = []
    at = directory.find(wanted)
    while at >= 0:
        end = at + len(wanted)
        entry = _entry_ending_at(directory, end)
        if entry is None:
            # The text also occurs inside a longer name, an extra field or a comment: only a
            # full walk can tell, and zipfile does one.
            return None
        if entry is not False:
            found.append(entry)
        at = directory.find(wanted, end)
    return found


def _entry_ending_at(directory: bytes, end: int) -> DirectoryEntry | Literal[False] | None:
    """The entry whose name ends at `end`; False when the text there is inside a longer name;
    None when it cannot be decided. An entry counts only when the next entry (or the end of the
    directory) follows it exactly."""
    # The nearest header before the name's earliest possible start: names hold no signature.
    header = directory.rfind(_CENTRAL, max(0, end - _CENTRAL_SIZE - 0xFFFF), end - _CENTRAL_SIZE + 1)
    if header < 0:
        return None
    (_sig, _made, _need, flags, method, _time, _date, crc, compress_size, file_size,
     name_length, extra_length, comment_length, _disk, _internal, _external,
     header_offset) = struct.unpack_from("<4sHHHHHHIIIHHHHHII", directory, header)
    name_start = header + _CENTRAL_SIZE
    name_end = name_start + name_length
    following = name_end + extra_length + comment_length
    if following != len(directory) and directory[following: following + 4] != _CENTRAL:
        return None
    if name_end > end:
        return False  # inside a longer name that continues past the suffix
    if name_end < end:
        return None  # in this entry's extra field or comment
    if _FULL32 in (compress_size, file_size, header_offset):
        return None  # zip64 sizes or offset: zipfile reads them from the extra field
    raw = directory[name_start:end]
    try:
        name = raw.decode("utf-8" if flags & _UTF8_FLAG else "cp437")
    except UnicodeDecodeError:
        return None
    if "\x00" in name:
        return None
    return DirectoryEntry(name, raw, header_offset, compress_size, file_size, method, crc, flags)


def read_entry(read: Callable[[int, int], bytes], entry: DirectoryEntry) -> bytes | None:
    """The uncompressed bytes of `entry`, read through `read(offset, length)`; None when the local
    header, the compression or the result (size, CRC-32) is not what zipfile would accept."""
    if entry.flags & _UNSUPPORTED_FLAGS or entry.method not in (_STORED, _DEFLATED):
        return None
    header = read(entry.header_offset, _LOCAL_SIZE + len(entry.raw_name))
    if len(header) != _LOCAL_SIZE + len(entry.raw_name) or header[:4] != _LOCAL:
        return None
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    if header[_LOCAL_SIZE:] != entry.raw_name or name_length != len(entry.raw_name):
        return None  # zipfile: "File name in directory and header differ"
    raw = read(entry.header_offset + _LOCAL_SIZE + name_length + extra_length, entry.compress_size)
    if len(raw) != entry.compress_size:
        return None
    if entry.method == _STORED:
        data = raw
    else:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, entry.file_size + 1)
        except zlib.error:
            return None
    if len(data) != entry.file_size or zlib.crc32(data) != entry.crc:
        return None
    return data


def wheel_metadata_by_directory(remote: RemoteFile, file: DistFile, tail: int) -> bytes | None:
    """The wheel's METADATA found by searching its central directory (`_zip_directory`), with the
    same choice of member as `wheel_metadata_member`; None when zipfile must decide. `tail`: how
    many bytes at the end `remote` already holds (where the end record is searched)."""
    size = remote.size
    tail_length = min(size, tail)
    remote.seek(size - tail_length)
    found = end_of_directory(remote.read(tail_length), size)
    if found is None:
        return None
    directory_offset, directory_size = found
    remote.seek(directory_offset)
    entries = entries_ending_with(remote.read(directory_size), ".dist-info/METADATA")
    if entries is None:
        return None
    candidates = [e for e in entries if e.name.count("/") == 1]
    if len(candidates) > 1:
        candidates = [e for e in candidates
                      if canonicalize_name(e.name.split("-", 1)[0]) == file.project]
    if len(candidates) != 1 or candidates[0].file_size > MAX_METADATA_SIZE:
        return None
    entry = candidates[0]
    # The member's span in one request (its local header may carry a few bytes of extra field).
    end = entry.header_offset + _LOCAL_SIZE + len(entry.raw_name) + entry.compress_size + 1024
    remote.prefetch(entry.header_offset, min(directory_offset, end))

    def read(offset: int, length: int) -> bytes:
        remote.seek(offset)
        return remote.read(length)

    return read_entry(read, entry)
