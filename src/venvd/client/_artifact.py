"""An environment's artifact on the server, read as `materialize` needs it: manifest frame, then
only the fragments the client's cache lacks.

The contract with the server (``GET /v1/environments/{id}/artifact``): the artifact is
``frame(manifest) + fragment + ... + frame(end of archive)``, fragments in the manifest's package
order; each package's ``fragment.offset`` counts from the end of the manifest frame (the client
learns that frame's length by decompressing it); single byte ranges (``Range: bytes=a-b``) are
answered 206. ``X-Venvd-Size`` gives the whole size (also on a redirect to the object store).

Every read is a Range request read to its end: the manifest frame first (512 KiB, then twice as
much while the frame goes on), then, when the missing fragments make up at least half of the span
they cover, one request over that span (what lies between is read and dropped), else one request
per run of nearly adjacent missing fragments. Every fragment is checked against the manifest's
sha256 by the caller; the manifest frame by zstd's own checksum.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from venvd import errors

if TYPE_CHECKING:
    from venvd.client._http import HttpClient

__all__ = ["HttpArtifact"]

_ATTEMPTS = 3  # opens of one artifact, when cache GC removes it in between (the server rebuilds it)
_MERGE_GAP = 256 * 1024  # missing fragments this close are fetched in one range, the gap skipped
_HEAD = 512 * 1024  # the first range asked for: the manifest frame of a large environment fits


class HttpArtifact:
    """The artifact of `env_id` on `client`'s server (an `ArtifactSource`)."""

    def __init__(self, client: HttpClient, env_id: str) -> None:
        self.client = client
        self.env_id = env_id
        self.name = f"environment {env_id[:12]}"
        self.url = f"/v1/environments/{env_id}/artifact"
        self._response: httpx.Response | None = None
        self._stack = contextlib.ExitStack()
        self._chunks: Iterator[bytes] = iter(())
        self._buf = b""
        self._pos = 0  # offset in the artifact of self._buf's first byte
        self._size: int | None = None
        self._want = _HEAD
        self._head: tuple[int, bytes] = (0, b"")  # what the first response held past the frame

    # -- ArtifactSource ---------------------------------------------------------------------
    def first_frame(self, max_window: int) -> tuple[bytes, int]:
        from venvd.materialize._source import read_first_frame

        self._want = _HEAD
        self._open(0, _HEAD - 1)
        with self._broken_off():
            frame, length, rest = read_first_frame(self._read_on, max_window)
            # The rest of that response is kept: a small artifact's fragments are all there.
            start = self._pos - len(rest)
            self._head = (start, rest + self._buf + b"".join(self._chunks))
            self._close()
        return frame, length

    def size(self) -> int | None:
        return self._size

    def read_ranges(self, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
        ranges = list(ranges)
        head_start, head = self._head
        self._head = (0, b"")
        while ranges and ranges[0][0] >= head_start and sum(ranges[0]) <= head_start + len(head):
            offset, length = ranges.pop(0)
            yield head[offset - head_start:offset - head_start + length]
        del head
        if not ranges:
            return
        span = ranges[-1][0] + ranges[-1][1] - ranges[0][0]
        wanted = sum(length for _, length in ranges)
        # Most of the span wanted: one request, the gaps read and dropped; else one per run.
        gap = span if 2 * wanted >= span else _MERGE_GAP
        with self._broken_off():
            for run in _runs(ranges, gap):
                yield from self._ranged(run)

    @contextlib.contextmanager
    def local_copy(self) -> Iterator[Path]:
        self._close()
        with tempfile.TemporaryDirectory(prefix="venvd-artifact-") as tmp:
            path = Path(tmp) / "artifact.tar.zst"
            self.client.download(self.env_id, path)
            yield path

    def close(self) -> None:
        self._close()

    # -- reading ----------------------------------------------------------------------------
    def _open(self, start: int, last: int) -> None:
        """A Range request for bytes `start`..`last` (clamped to the artifact); after it, `_read`
        gives them. A 404 because cache GC removed the artifact waits for the rebuild."""
        from venvd.client._http import error_from_response

        for attempt in range(_ATTEMPTS):
            response = self._get({"Range": f"bytes={start}-{last}"})
            if response.status_code < 400:
                announced = response.history[0].headers if response.history else response.headers
                # The whole size: the server's header, else the total of a Content-Range.
                size = announced.get("X-Venvd-Size") or response.headers.get(
                    "Content-Range", "").rpartition("/")[2]
                if size and size.isdigit():
                    self._size = int(size)
                self._start(response, start)
                return
            response.read()
            self._close()
            if response.status_code == 416:  # past the end: nothing there
                self._response, self._chunks, self._buf, self._pos = None, iter(()), b"", start
                return
            error = self._error(response, error_from_response)
            if not (isinstance(error, errors.NotFound) and error.details.get("building")) or (
                    attempt == _ATTEMPTS - 1):
                raise error
            self._await_rebuild()

    def _start(self, response: httpx.Response, start: int) -> None:
        self._response, self._buf, self._chunks = response, b"", response.iter_bytes()
        if response.status_code == 206:
            first = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if first != str(start):
                raise errors.UpstreamError(
                    f"the server answered a range from byte {start} of {self.name} with "
                    f"{response.headers.get('Content-Range')!r}", url=self.client.server + self.url)
            self._pos = start
        else:  # a server (or proxy) that ignores Range: the whole artifact, read up to `start`
            self._pos = 0
            self._skip(start)

    def _read_on(self, n: int) -> bytes:
        """Like `_read`, opening the next, twice larger, range when one ends (the manifest
        frame's size is learnt by reading it)."""
        data = self._read(n)
        if not data and self._size is not None and self._pos < self._size:
            self._want *= 2
            self._open(self._pos, self._pos + self._want - 1)
            data = self._read(n)
        return data

    def _get(self, headers: dict[str, str]) -> httpx.Response:
        with self._broken_off():
            request = self.client._http.build_request(
                "GET", self.url, headers=headers, timeout=self.client._stream_timeout)
            response = self.client._http.send(request, stream=True, follow_redirects=True)
        self._stack.callback(response.close)
        return response

    def _error(self, response: httpx.Response, convert: object) -> errors.VenvdError:
        if response.history:
            return errors.UpstreamError(
                f"the object store answered HTTP {response.status_code} for the artifact of "
                f"environment {self.env_id}; run the command again", url=self.client.server + self.url)
        return convert(response)  # type: ignore[operator, no-any-return]

    def _await_rebuild(self) -> None:
        for event in self.client.events(self.env_id):
            if event.get("status") == "failed":
                raise errors.BuildError(
                    f"environment {self.env_id} was rebuilt after cache GC and failed: "
                    f"{(event.get('error') or {}).get('message', 'no reason given')}")

    def _ranged(self, run: list[tuple[int, int]]) -> Iterator[bytes]:
        """One Range request for `run` (ranges with small gaps, or all), each range's bytes."""
        self._open(run[0][0], run[-1][0] + run[-1][1] - 1)
        for offset, length in run:
            self._skip(offset - self._pos)
            yield self._take(length)
        self._drain()

    def _drain(self) -> None:
        """Read the response to its end before closing it (a response dropped early costs the
        server more than the bytes left: see the integrator notes), then close it."""
        for _ in self._chunks:
            pass
        self._close()

    def _read(self, n: int) -> bytes:
        if not self._buf:
            self._buf = next(self._chunks, b"")
        data, self._buf = self._buf[:n], self._buf[n:]
        self._pos += len(data)
        return data

    def _take(self, n: int) -> bytes:
        parts: list[bytes] = []
        have = 0
        while have < n:
            data = self._read(n - have)
            if not data:
                raise errors.UpstreamError(
                    f"the artifact of {self.name} ended early (at byte {self._pos}); run the "
                    "command again", url=self.client.server + self.url)
            parts.append(data)
            have += len(data)
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n > 0:
            data = self._read(min(n, 1 << 20))
            if not data:
                raise errors.UpstreamError(
                    f"the artifact of {self.name} ended early (at byte {self._pos})",
                    url=self.client.server + self.url)
            n -= len(data)

    def _close(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._response, self._chunks, self._buf = None, iter(()), b""

    @contextlib.contextmanager
    def _broken_off(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException:
            raise errors.UpstreamTimeout(
                f"venvd server {self.client.server} stopped sending {self.name}; run the command "
                "again (fragments already unpacked are kept in the cache)",
                url=self.client.server) from None
        except httpx.TransportError as exc:
            raise errors.UpstreamError(
                f"download of {self.name} from {self.client.server} broke off ({exc}); run the "
                "command again (fragments already unpacked are kept in the cache)",
                url=self.client.server) from None


def _runs(ranges: list[tuple[int, int]], gap: int) -> list[list[tuple[int, int]]]:
    """`ranges` (ascending) grouped into runs whose gaps are at most `gap`."""
    runs: list[list[tuple[int, int]]] = []
    for offset, length in ranges:
        if runs and offset - (runs[-1][-1][0] + runs[-1][-1][1]) <= gap:
            runs[-1].append((offset, length))
        else:
            runs.append([(offset, length)])
    return runs
