"""A read-only, seekable file over HTTP range requests, for reading one member of a remote wheel.

`RemoteFile.open(get_range, tail)` asks for the last `tail` bytes (`Range: bytes=-N`), which
usually hold the whole zip central directory and its end record; zipfile then reads through this
object and every byte it needs that is not held yet is fetched with one more range request.
`prefetch(lo, hi)` lets the caller get a member's whole span in one request instead of zipfile's
many small reads.

If the server ignores ranges (200 instead of 206), `open` raises `RangesUnsupported` carrying the
body it got, so the caller can use that full download instead of asking again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import httpx

__all__ = ["RangesUnsupported", "RemoteFile"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class RangesUnsupported(Exception):
    """The server answered a range request with the whole file (`body`) or refused it (None)."""

    def __init__(self, body: bytes | None) -> None:
        super().__init__("the server does not support HTTP range requests")
        self.body = body


class RemoteFile(io.RawIOBase):
    """Bytes of one remote file, fetched by range on demand and kept in memory (merged segments)."""

    def __init__(self, get_range: Callable[[str], httpx.Response], size: int) -> None:
        super().__init__()
        self._get_range = get_range
        self._size = size
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []  # sorted, disjoint, non-adjacent
        self.requests = 0

    @classmethod
    def open(cls, get_range: Callable[[str], httpx.Response], tail: int) -> RemoteFile:
        response = get_range(f"bytes=-{tail}")
        if response.status_code == 200:
            raise RangesUnsupported(response.content)
        if response.status_code == 416:
            raise RangesUnsupported(None)
        start, size = _content_range(response)
        remote = cls(get_range, size)
        remote.requests = 1
        remote._add(start, response.content)
        return remote

    @property
    def size(self) -> int:
        return self._size

    def whole(self) -> bytes | None:
        """The whole file when every byte has been fetched (a small file fits in the first tail)."""
        if len(self._segments) == 1 and self._segments[0][0] == 0 \
                and len(self._segments[0][1]) == self._size:
            return self._segments[0][1]
        return None

    # -- io protocol (what zipfile uses: read, seek, tell, seekable) -------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int = -1) -> bytes:
        hi = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if hi <= self._pos:
            return b""
        self.prefetch(self._pos, hi)
        data = self._slice(self._pos, hi)
        self._pos = hi
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    # -- fetching ---------------------------------------------------------------------------
    def prefetch(self, lo: int, hi: int) -> None:
        """Make bytes [lo, hi) available, fetching each missing gap with one range request."""
        hi = min(hi, self._size)
        for gap_lo, gap_hi in self._missing(lo, hi):
            response = self._get_range(f"bytes={gap_lo}-{gap_hi - 1}")
            self.requests += 1
            if response.status_code == 200:
                # Ranges stopped being honoured mid-way: the whole body is as good.
                self._segments = [(0, response.content)]
                self._size = len(response.content)
                return
            start, _size = _content_range(response)
            self._add(start, response.content)

    def _missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        gaps, cursor = [], lo
        for start, data in self._segments:
            end = start + len(data)
            if end <= cursor:
                continue
            if start >= hi:
                break
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < hi:
            gaps.append((cursor, hi))
        return gaps

    def _add(self, start: int, data: bytes) -> None:
        end = start + len(data)
        kept = []
        for seg_start, seg_data in self._segments:
            seg_end = seg_start + len(seg_data)
            if seg_end < start or seg_start > end:
                kept.append((seg_start, seg_data))
                continue
            lo, hi = min(seg_start, start), max(seg_end, end)
            merged = bytearray(hi - lo)
            merged[seg_start - lo: seg_end - lo] = seg_data
            merged[start - lo: end - lo] = data
            start, end, data = lo, hi, bytes(merged)
        kept.append((start, data))
        kept.sort(key=lambda seg: seg[0])
        self._segments = kept

    def _slice(self, lo: int, hi: int) -> bytes:
        for start, data in self._segments:
            if start <= lo and hi <= start + len(data):
                return data[lo - start: hi - start]
        raise OSError(f"bytes {lo}-{hi} of the remote file were not fetched")


def _content_range(response: httpx.Response) -> tuple[int, int]:
    """(start, total size) of a 206 answer; a 206 without a usable Content-Range is unusable."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status_code != 206 or match is None or match[3] == "*":
        raise RangesUnsupported(None)
    start, end = int(match[1]), int(match[2])
    if end - start + 1 != len(response.content):
        raise RangesUnsupported(None)
    return start, int(match[3])
