"""What a download of an environment's artifact reads (`Served`), and the iterator that streams it
under its leases (`Leased`): see `_artifacts.Artifacts.open`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

from venvd.objects import ObjectStore, Recipe

__all__ = ["Leased", "Served", "touch_all"]

_log = logging.getLogger("venvd.artifacts")


@dataclasses.dataclass(frozen=True)
class Served:
    """What a download of an environment reads: the record's artifact `key` and the archive's
    `size`; `recipe` the parts when the archive is virtual, None when `key` is one stored archive."""

    key: str
    size: int
    recipe: Recipe | None

    @property
    def keys(self) -> list[str]:
        """Every object a download reads (to lease)."""
        return [self.key, *(self.recipe.keys if self.recipe is not None else ())]

    def parts_json(self) -> list[dict[str, Any]] | None:
        """The parts as the manifest route lists them (no inline bytes), or None."""
        if self.recipe is None:
            return None
        return [{k: v for k, v in p.to_json().items() if k != "data"} for p in self.recipe.parts]


def touch_all(objects: ObjectStore, keys: list[str]) -> None:
    for key in keys:
        try:
            objects.touch(key)
        except OSError as exc:  # a lost touch only makes the object look older to GC
            _log.warning("cannot record the use of %s: %s", key, exc)


class Leased:
    """Yields `blocks`, then (exhausted, failed, closed or collected, whichever comes first)
    closes them and calls `release` once; `vanished` is called when a part went missing."""

    def __init__(self, blocks: Iterator[bytes], release: Callable[[], None],
                 vanished: Callable[[], None]) -> None:
        self._blocks, self._release, self._vanished = blocks, release, vanished
        self._done = False

    def __iter__(self) -> Leased:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._blocks)
        except StopIteration:
            self.close()
            raise
        except FileNotFoundError:
            self._vanished()
            self.close()
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            close = getattr(self._blocks, "close", None)
            if close is not None:
                close()
        except Exception:
            _log.warning("closing the parts of a download failed", exc_info=True)
        finally:
            self._release()

    def __del__(self) -> None:
        self.close()
