"""An ASCII sort key for PEP 440 versions, so that SQL can order and range-filter versions as text.

Contract: for any two `packaging.version.Version` values ``a`` and ``b``::

    version_sort_key(a) <  version_sort_key(b)  <=>  a <  b
    version_sort_key(a) == version_sort_key(b)  <=>  a == b

where the keys compare byte-wise (Python ``str`` order, SQLite's BINARY collation, PostgreSQL's
``COLLATE "C"``). The key is derived from the parts `packaging` parses (epoch, release, pre,
post, dev, local) and mirrors packaging's own comparison, which stays the single authority: the
tests check the key against it with hypothesis rather than against a re-statement of PEP 440.

Layout (each part self-delimiting, so concatenation preserves tuple order)::

    <int epoch> ("." <int n>)* for the release without trailing zeros, then "-",
    <pre rank> <int n> <post rank> <int n> <dev rank> <int n>,
    ["+" (("a" <alnum> "!") | ("n" <int n>))* ]      only for local versions

An ``<int>`` is its decimal digit count then its digits (``7`` -> ``17``, ``42`` -> ``242``); counts
past 9 are written ``:`` + one digit giving the width of the count + the count, which still sorts
after every shorter number. Because ``-`` < ``.`` a shorter release sorts first (1 < 1.1); a key
without a local part is a prefix of the keys of its local variants, so 1.0 < 1.0+anything, and every
local variant of V sorts below `local_upper_bound` of V's key.
"""

from __future__ import annotations

import functools

from packaging.version import Version

__all__ = ["local_upper_bound", "version_sort_key"]

# Ranks follow packaging's comparison: a dev-only release (1.0.dev1) sorts before every
# pre-release of the same release, a final release after every pre-release.
_PRE_DEV_ONLY = "a"
_PRE_RANK = {"a": "b", "b": "c", "rc": "d"}
_PRE_NONE = "e"
# The character after "+", the local-part marker: every key with V's public part and a local part
# sorts strictly between key(V) and key(V) + _LOCAL_END.
_LOCAL_END = ","


def _int(n: int) -> str:
    digits = str(n)
    width = len(digits)
    if width <= 9:
        return f"{width}{digits}"
    count = str(width)
    if len(count) > 9:  # a number with more than 10**9 digits cannot have been parsed
        raise ValueError("version component too large for a sort key")
    return f":{len(count)}{count}{digits}"


# Pages list many files per version; equal versions have equal keys, so caching by equality is exact.
@functools.lru_cache(maxsize=65536)
def version_sort_key(v: Version) -> str:
    """The ASCII key of `v`; equal versions (1.0 == 1.0.0, 1.0+ubuntu.01 == 1.0+ubuntu.1) share
    one key."""
    release = list(v.release)
    while release and release[-1] == 0:
        release.pop()
    parts = [_int(v.epoch)]
    parts.extend("." + _int(n) for n in release)
    parts.append("-")

    if v.pre is not None:
        parts.append(_PRE_RANK[v.pre[0]] + _int(v.pre[1]))
    elif v.post is None and v.dev is not None:
        parts.append(_PRE_DEV_ONLY + _int(0))
    else:
        parts.append(_PRE_NONE + _int(0))
    parts.append("0" + _int(0) if v.post is None else "1" + _int(v.post))
    parts.append("1" + _int(0) if v.dev is None else "0" + _int(v.dev))

    if v.local is not None:
        parts.append("+")
        # packaging normalizes local segments to lower case, "." separated, digits as ints
        # (so "01" == "1"); alphanumeric segments sort before numeric ones.
        for segment in v.local.split("."):
            if segment.isdigit():
                parts.append("n" + _int(int(segment)))
            else:
                parts.append("a" + segment + "!")
    return "".join(parts)


def local_upper_bound(key: str) -> str:
    """A string above the key of V and of every local variant of V, below everything greater.

    `key` must be the key of a version without a local part. Used to pre-filter ``==V`` and
    ``<=V`` in SQL, which PEP 440 lets match V's local variants.
    """
    return key + _LOCAL_END
