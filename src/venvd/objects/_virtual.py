"""Virtual objects: one byte stream that is the concatenation of inline bytes and stored objects.

An environment's artifact is ``frame(manifest) + fragment + ... + frame(end)``: its fragments are
objects already (``fragments-v1/...``), so the artifact need not be copied into one more object to be
served. A `Recipe` lists its parts in order, each with its offset and size; `open_recipe_range` streams any
byte range of the concatenation from the parts, as `ObjectStore.open_range` does for one object.

Reading from a directory store opens every part the range needs before the first block is yielded
(a part that GC unlinks afterwards is still read whole: the descriptor keeps its inode), so a range
either fails before its first byte (FileNotFoundError) or is read whole, as for one object. Other
stores (S3) open the first part before the first block and the others when they are reached; the
caller leases every part first, so GC leaves them alone, and a part missing later ends the stream
with FileNotFoundError (see `service._artifacts` for what is done then).
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

from venvd.objects._base import ObjectStore

__all__ = ["RECIPE_FORMAT", "Part", "Recipe", "open_recipe_range"]

RECIPE_FORMAT = 2  # 1 (implicit) was the sidecar of a concatenated artifact: sha256, size, manifest


@dataclasses.dataclass(frozen=True)
class Part:
    """Bytes `offset .. offset+size-1` of the concatenation: `data` inline, or the object `key`.

    `kind` says what the part is in an artifact ("manifest", "fragment", "end") and `package` whose
    fragment it is; neither changes how it is read."""

    offset: int
    size: int
    key: str | None = None
    data: bytes | None = None
    kind: str = "fragment"
    package: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "offset": self.offset, "size": self.size}
        if self.key is not None:
            doc["key"] = self.key
        if self.data is not None:
            doc["data"] = base64.b64encode(self.data).decode("ascii")
        if self.package is not None:
            doc["package"] = self.package
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Part:
        data = doc.get("data")
        return cls(offset=int(doc["offset"]), size=int(doc["size"]), key=doc.get("key"),
                   data=None if data is None else base64.b64decode(data),
                   kind=str(doc.get("kind", "fragment")), package=doc.get("package"))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The parts of a virtual object, in order, and the sha256 and size of their concatenation."""

    sha256: str
    size: int
    parts: tuple[Part, ...]

    @property
    def keys(self) -> list[str]:
        """The stored objects it reads (to lease and check)."""
        return [p.key for p in self.parts if p.key is not None]

    def check(self) -> None:
        """ValueError unless the parts tile 0..size exactly, each with bytes or a key."""
        offset = 0
        for part in self.parts:
            if part.offset != offset or part.size < 0 or (part.key is None) == (part.data is None):
                raise ValueError(f"recipe part at {part.offset} does not follow at {offset}")
            if part.data is not None and len(part.data) != part.size:
                raise ValueError(f"inline part at {part.offset} is not {part.size} bytes")
            offset += part.size
        if offset != self.size:
            raise ValueError(f"recipe parts add up to {offset} bytes, not {self.size}")


def open_recipe_range(store: ObjectStore, recipe: Recipe, start: int = 0, end: int | None = None,
               block: int = 1 << 20) -> Iterator[bytes]:
    """The bytes `start..end` (inclusive; None = to the end) of `recipe`'s concatenation, in
    blocks of at most `block` bytes. FileNotFoundError when a part is missing: before the first
    block on a directory store (every part is opened first), else possibly mid-stream."""
    end = recipe.size - 1 if end is None else min(end, recipe.size - 1)
    spans = [(p, max(start, p.offset) - p.offset, min(end, p.offset + p.size - 1) - p.offset)
             for p in recipe.parts if p.offset + p.size > start and p.offset <= end and p.size]
    if spans and all(p.key is None or store.local_path(p.key) is not None for p, _, _ in spans):
        return _local_blocks(store, spans, block)
    return _store_blocks(store, spans, block)


def _local_blocks(store: ObjectStore, spans: list[tuple[Part, int, int]],
                  block: int) -> Iterator[bytes]:
    fds: list[int | None] = []
    try:
        for part, _, _ in spans:
            path = store.local_path(part.key) if part.key is not None else None
            fds.append(None if path is None else os.open(path, os.O_RDONLY))
    except BaseException:
        for fd in fds:
            if fd is not None:
                os.close(fd)
        raise
    return _LocalBlocks(spans, fds, block)


class _LocalBlocks:
    """The blocks of open parts (an iterator, closing its descriptors when exhausted, closed or
    collected: a generator never started would keep them open)."""

    def __init__(self, spans: list[tuple[Part, int, int]], fds: list[int | None],
                 block: int) -> None:
        self._spans, self._fds, self._block = spans, fds, block
        self._index = 0
        self._position = spans[0][1] if spans else 0

    def __iter__(self) -> _LocalBlocks:
        return self

    def __next__(self) -> bytes:
        # pread from the page cache into one buffer per block: through ASGI (uvicorn has no
        # sendfile or pathsend) one copy into user space is the floor, and big blocks keep the
        # per-block Python cost (a thread hop in Starlette) negligible against the bytes.
        while self._index < len(self._spans):
            part, first, last = self._spans[self._index]
            fd = self._fds[self._index]
            if fd is None or self._position > last:
                data = b"" if fd is not None else (part.data or b"")[first:last + 1]
                self._next_part()
                if data:
                    return data
                continue
            data = os.pread(fd, min(self._block, last - self._position + 1), self._position)
            if not data:
                self.close()
                raise OSError(f"object {part.key} is shorter than its recipe says")
            self._position += len(data)
            return data
        self.close()
        raise StopIteration

    def _next_part(self) -> None:
        self._index += 1
        if self._index < len(self._spans):
            self._position = self._spans[self._index][1]

    def close(self) -> None:
        fds, self._fds = self._fds, [None] * len(self._fds)
        self._index = len(self._spans)
        for fd in fds:
            if fd is not None:
                os.close(fd)

    def __del__(self) -> None:
        self.close()


def _store_blocks(store: ObjectStore, spans: list[tuple[Part, int, int]],
                  block: int) -> Iterator[bytes]:
    opened: Iterator[bytes] | None = None
    if spans and spans[0][0].key is not None:
        part, first, last = spans[0]
        assert part.key is not None
        opened = store.open_range(part.key, first, last, block)  # a miss raises before any byte
    return _read_store(store, spans, opened, block)


def _read_store(store: ObjectStore, spans: list[tuple[Part, int, int]],
                opened: Iterator[bytes] | None, block: int) -> Iterator[bytes]:
    for i, (part, first, last) in enumerate(spans):
        if part.data is not None:
            yield part.data[first:last + 1]
            continue
        assert part.key is not None
        blocks = opened if i == 0 and opened is not None else store.open_range(
            part.key, first, last, block)
        expected = last - first + 1
        for data in blocks:
            expected -= len(data)
            yield data
        if expected:
            raise OSError(f"object {part.key} is shorter than its recipe says")
