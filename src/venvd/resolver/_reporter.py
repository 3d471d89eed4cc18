"""Progress and explanation callbacks of a resolution, for a progress bar or a log.

`ResolveReporter` is what callers implement (all methods; subclass `NullReporter` to pick some).
`ReporterAdapter` turns resolvelib's reporter calls into these, so callers never see resolvelib
types.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from resolvelib import BaseReporter

from venvd.resolver._model import Candidate, Req

if TYPE_CHECKING:
    from resolvelib.structs import RequirementInformation, State

    Information = RequirementInformation[Req, Candidate]


class ResolveReporter(Protocol):
    def pinning(self, name: str, version: str) -> None:
        """A version of a project was chosen (it may still be undone by backtracking)."""
        ...

    def rejecting(self, name: str, version: str, reason: str) -> None:
        """A version was tried and dropped; `reason` is in words."""
        ...

    def backtracking(self, causes: Sequence[str]) -> None:
        """A conflict made the resolver undo pins; `causes` are requirement chains in words."""
        ...

    def progress(self, rounds: int, pinned: int, pending: int) -> None:
        """After each round: rounds so far, identifiers pinned, identifiers still to pin."""
        ...


class NullReporter:
    """A reporter that ignores everything; subclass it to hear only some events."""

    def pinning(self, name: str, version: str) -> None:
        pass

    def rejecting(self, name: str, version: str, reason: str) -> None:
        pass

    def backtracking(self, causes: Sequence[str]) -> None:
        pass

    def progress(self, rounds: int, pinned: int, pending: int) -> None:
        pass


def describe(info: Information) -> str:
    """`a 1.0 requires c<2` or `the request requires x>=3`."""
    who = "the request" if info.parent is None else str(info.parent)
    return f"{who} requires {info.requirement.text}"


class ReporterAdapter(BaseReporter[Req, Candidate, str]):
    def __init__(self, reporter: ResolveReporter) -> None:
        self._reporter = reporter
        # Wording a conflict costs more than the rest of a round; skip it when nobody listens.
        kind = type(reporter)
        self._words_wanted = not (isinstance(reporter, NullReporter)
                                  and kind.rejecting is NullReporter.rejecting
                                  and kind.backtracking is NullReporter.backtracking)

    def ending_round(self, index: int, state: State[Req, Candidate, str]) -> None:
        pinned = len(state.mapping)
        self._reporter.progress(index + 1, pinned, max(len(state.criteria) - pinned, 0))

    def pinning(self, candidate: Candidate) -> None:
        if not candidate.extras:  # extras pins repeat their base's version
            self._reporter.pinning(candidate.name, str(candidate.version))

    def rejecting_candidate(self, criterion: Any, candidate: Candidate) -> None:
        if not self._words_wanted:
            return
        chains = "; ".join(describe(i) for i in criterion.information)
        self._reporter.rejecting(candidate.name, str(candidate.version), f"conflicts: {chains}")

    def resolving_conflicts(self, causes: Collection[Information]) -> None:
        if not self._words_wanted:
            return
        self._reporter.backtracking([describe(c) for c in causes])
