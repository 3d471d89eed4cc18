"""Ranges over a virtual object (inline bytes + stored objects) are the ranges of the concatenation,
on a directory store (every part opened first) and on a store that is not one (parts opened in turn)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from venvd.objects import FileObjectStore, ObjectInfo, Part, Recipe, open_recipe_range


class RemoteStore:
    """The directory store seen as a remote one: no local paths, so parts are opened in turn."""

    name = "remote"

    def __init__(self, real: FileObjectStore) -> None:
        self.real = real
        self.opened: list[str] = []

    def open_range(self, key: str, start: int = 0, end: int | None = None,
                   block: int = 1 << 20) -> Iterator[bytes]:
        self.opened.append(key)
        return self.real.open_range(key, start, end, block)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.real.stat(key)

    def local_path(self, key: str) -> Path | None:
        return None


def _world(tmp_path: Path, sizes: list[int]) -> tuple[FileObjectStore, Recipe, bytes]:
    """A head, one stored object per size (a zero size too), a tail; and the concatenation."""
    rng = random.Random(len(sizes))
    store = FileObjectStore(tmp_path / "objects")
    head, tail = b"HEAD" * 7, b"\0" * 13
    parts, whole, offset = [Part(0, len(head), data=head, kind="manifest")], head, len(head)
    for i, size in enumerate(sizes):
        data = rng.randbytes(size)
        key = f"fragments-v1/{i:02x}/layout.tar.zst"
        (store.root / key).parent.mkdir(parents=True, exist_ok=True)
        (store.root / key).write_bytes(data)
        parts.append(Part(offset, size, key=key))
        whole += data
        offset += size
    parts.append(Part(offset, len(tail), data=tail, kind="end"))
    recipe = Recipe(sha256="", size=offset + len(tail), parts=tuple(parts))
    recipe.check()
    return store, recipe, whole + tail


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("remote", [False, True], ids=["directory", "remote"])
def test_every_range_is_the_concatenations(tmp_path: Path, remote: bool) -> None:
    store, recipe, whole = _world(tmp_path, [1000, 0, 1, 5000, 3])
    reader = RemoteStore(store) if remote else store
    size = len(whole)
    rng = random.Random(7)
    ranges = [(0, None), (0, size - 1), (size - 1, None), (27, 28), (28, 28), (29, 1029)]
    ranges += [tuple(sorted(rng.sample(range(size), 2))) for _ in range(200)]  # type: ignore[misc]
    before = _fds()
    for start, end in ranges:
        got = b"".join(open_recipe_range(reader, recipe, start, end, block=97))
        assert got == whole[start:None if end is None else end + 1], (start, end)
    assert _fds() == before  # every descriptor closed


def test_a_directory_store_opens_every_part_before_the_first_byte(tmp_path: Path) -> None:
    store, recipe, whole = _world(tmp_path, [300, 400])
    blocks = open_recipe_range(store, recipe)
    for part in recipe.parts:
        if part.key is not None:
            (store.root / part.key).unlink()  # GC removes them after the download opened them
    assert b"".join(blocks) == whole
    with pytest.raises(FileNotFoundError):
        open_recipe_range(store, recipe)  # gone before the open: no byte is sent


def test_abandoned_reads_close_their_descriptors(tmp_path: Path) -> None:
    store, recipe, _ = _world(tmp_path, [300, 400, 500])
    before = _fds()
    blocks = open_recipe_range(store, recipe, block=10)
    assert _fds() == before + 3
    del blocks  # never iterated (a client that left before the body)
    assert _fds() == before
    blocks = open_recipe_range(store, recipe, block=10)
    next(blocks)
    del blocks  # left mid-way
    assert _fds() == before


def test_a_remote_store_opens_parts_in_turn_and_a_missing_one_raises(tmp_path: Path) -> None:
    store, recipe, whole = _world(tmp_path, [300, 400])
    remote = RemoteStore(store)
    blocks = open_recipe_range(remote, recipe, 0, None)
    assert remote.opened == []  # the first part (inline) needs no object
    first = next(blocks)
    assert first == whole[:len(first)]
    (store.root / recipe.parts[2].key).unlink()  # type: ignore[operator]
    with pytest.raises(FileNotFoundError):
        b"".join(blocks)
    # A range that starts in a stored part opens it before returning: a miss raises at once.
    with pytest.raises(FileNotFoundError):
        open_recipe_range(remote, recipe, recipe.parts[2].offset, None)


def test_a_recipe_that_does_not_tile_is_refused() -> None:
    with pytest.raises(ValueError, match="does not follow"):
        Recipe("", 10, (Part(0, 4, data=b"abcd"), Part(5, 5, key="k"))).check()
    with pytest.raises(ValueError, match="add up"):
        Recipe("", 10, (Part(0, 4, data=b"abcd"),)).check()
    with pytest.raises(ValueError, match="not 5 bytes"):
        Recipe("", 5, (Part(0, 5, data=b"abcd"),)).check()
