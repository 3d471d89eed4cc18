"""`within_bounds` may only drop versions that packaging itself would reject: checked against
`SpecifierSet.filter` on version lists full of pre-, post-, dev-, local and epoch releases."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from venvd.resolver._candidates import within_bounds

RELEASES = ["0.9", "1.0", "1.0.1", "1.1", "2.0", "1!0.5"]
SUFFIXES = ["", "a1", "b2", "rc1", ".post1", ".dev0", "+local", ".post1.dev3", "a1+x.2"]
VERSIONS = sorted({Version(r + s) for r in RELEASES for s in SUFFIXES}, reverse=True)

clause = st.tuples(st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "~="]),
                   st.sampled_from([r + s for r in RELEASES for s in SUFFIXES if "+" not in s]))


@settings(max_examples=400, deadline=None)
@given(subset=st.lists(st.sampled_from(VERSIONS), unique=True),
       clauses=st.lists(clause, min_size=0, max_size=3), prereleases=st.sampled_from([None, True]))
def test_bounds_keep_every_match(subset: list[Version], clauses: list[tuple[str, str]],
                                 prereleases: bool | None) -> None:
    newest_first = sorted(subset, reverse=True)
    text = ",".join(op + (v + ".0" if op == "~=" and "." not in v.split("!")[-1] else v)
                    for op, v in clauses)
    try:
        spec = SpecifierSet(text)
    except Exception:
        return
    narrowed = within_bounds(newest_first, spec)
    assert list(spec.filter(narrowed, prereleases=prereleases)) == list(
        spec.filter(newest_first, prereleases=prereleases))


def test_bounds_narrow_a_long_history() -> None:
    history = [Version(f"1.{i}") for i in range(1000, 0, -1)]
    narrowed = within_bounds(history, SpecifierSet(">=1.500,<1.510"))
    assert list(narrowed) == [Version(f"1.{i}") for i in range(509, 499, -1)]
