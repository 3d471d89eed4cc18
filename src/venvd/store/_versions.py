"""SQL pre-filtering of versions by specifier, through version sort keys.

`key_range` only narrows: every version a specifier can match lies in the range, so SQL may skip
rows outside it, and packaging still decides the exact match (pre-releases, local versions, `!=`,
wildcards, `~=`, `===`).
"""

from __future__ import annotations

import sqlalchemy as sa
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from sqlalchemy.orm import InstrumentedAttribute

from venvd.store.versionkey import local_upper_bound, version_sort_key

__all__ = ["in_key_range", "key_range"]


def key_range(specifier: SpecifierSet) -> tuple[str | None, str | None]:
    """``(low, high)`` such that any match ``v`` has ``low <= key(v) < high``; None is unbounded."""
    low: str | None = None
    high: str | None = None
    for spec in specifier:
        op, text = spec.operator, spec.version
        if op in ("===", "!=") or text.endswith(".*"):
            continue
        key = version_sort_key(Version(text))
        lo: str | None = None
        hi: str | None = None
        if op in (">=", ">", "~="):
            lo = key
        elif op in ("<", "<="):
            # `<=V` matches V's local variants (PEP 440 compares their public part); `<V` does
            # not, but bounding both the same way keeps this a plain, safe superset.
            hi = local_upper_bound(key)
        elif op == "==":
            lo, hi = key, local_upper_bound(key)
        if lo is not None and (low is None or lo > low):
            low = lo
        if hi is not None and (high is None or hi < high):
            high = hi
    return low, high


def in_key_range(column: InstrumentedAttribute[str], specifier: SpecifierSet) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions keeping the rows whose sort key `column` lies in `key_range(specifier)`
    (none when the range is unbounded): a superset of the matches, as `key_range` promises."""
    low, high = key_range(specifier)
    conditions: list[sa.ColumnElement[bool]] = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column < high)
    return conditions
