"""When to tell the source which metadata the resolver will want next (`PackageSource.prefetch`).

resolvelib asks for metadata one candidate at a time; an index answers faster when asked for many
files at once. Two hints, after uv's: the newest match of every new dependency of a candidate (they
are read one after another right after), and, for a project whose versions keep being tried (the
boto3/botocore/urllib3 pattern), batches of the next versions: after 5, 10, 20 and then every 20
tries, as many as were tried so far (at most 50), first from the current candidate list, then simply
older versions, since the current list may hold one version (b==x.y.z pinned by a==x.y.z).
Between batches, a small window of the next few candidates keeps one step ahead.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.utils import NormalizedName
from packaging.version import Version

from venvd.dist import DistFile
from venvd.resolver._types import PackageSource

WINDOW = 4
BATCH_CAP = 50


class Prefetcher:
    def __init__(self, source: PackageSource) -> None:
        self._source = source
        self._announced: set[str] = set()
        self._tried: dict[NormalizedName, set[Version]] = {}
        self._last_batch: dict[NormalizedName, int] = {}

    def announce(self, files: Iterable[DistFile]) -> None:
        """Pass files not announced before to the source, in one call."""
        new = []
        for file in files:
            if file.cache_key not in self._announced:
                self._announced.add(file.cache_key)
                new.append(file)
        if new:
            self._source.prefetch(new)

    def trying(self, name: NormalizedName, version: Version) -> tuple[int, bool]:
        """Record that `version` is about to be tried. Returns how many further versions to
        announce, and whether to go on to simply older versions when the candidate list ends."""
        tried = self._tried.setdefault(name, set())
        tried.add(version)
        count = len(tried)
        last = self._last_batch.get(name, 0)
        if ((count >= 5 and last < 5) or (count >= 10 and last < 10)
                or (count >= 20 and (last < 20 or count - last >= 20))):
            self._last_batch[name] = count
            return min(count, BATCH_CAP), True
        return (WINDOW if count >= 2 else 0), False
