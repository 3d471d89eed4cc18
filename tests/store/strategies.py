"""Hypothesis strategies for PEP 440 versions, written as text in many spellings and parsed by
packaging (the authority), so that the keys are tested on what packaging makes of them."""

from __future__ import annotations

from hypothesis import strategies as st
from packaging.version import Version

# Mostly small numbers (so that equal and adjacent versions are common), sometimes huge ones.
numbers = st.one_of(st.integers(0, 3), st.integers(0, 12), st.integers(0, 10**25))
small = st.integers(0, 3)

EDGE_CASES = [
    "0", "0.0", "0.0.0.0", "0.1", "1", "1.0", "1.0.0", "01.00", "1.0.1", "1.01", "1.1", "1.9",
    "1.10", "1.0.dev0", "1.0.dev1", "1.0.dev10", "1.0a0.dev0", "1.0a0", "1.0a1", "1.0alpha1",
    "1.0a1.post0.dev0", "1.0a1.post0", "1.0a1.post1", "1.0a2.dev0", "1.0b1", "1.0beta2",
    "1.0rc1", "1.0c1", "1.0pre2", "1.0preview3", "1.0.post0.dev0", "1.0.post0", "1.0-1",
    "1.0.post1", "1.0.rev2", "1.0r3", "1.0.post1.dev1", "1.0+0", "1.0+00", "1.0+1", "1.0+a",
    "1.0+a.0", "1.0+a.b", "1.0+0.a", "1.0+abc", "1.0+ABC", "1.0+abc.1", "1.0+abc1", "1.0+1abc",
    "1.0+a-b_c", "1.0+ab.c", "1.0+abc.a", "1.0.0+abc", "1!0", "1!0.0.1", "1!1.0.dev0", "2!0.0",
    "9", "10", "99", "100", "999999999", "1000000000", "9999999999", "12345678901234567890",
    "1" + "0" * 40, "v1.0", "1.0.dev0+local", "1.0a1+local", "1.0.post1+local",
    "0.0.0.0.0.0.0.1", "1.2.3.4.5.6.7.8.9",
]


@st.composite
def versions(draw: st.DrawFn) -> Version:
    parts: list[str] = []
    if draw(st.booleans()):
        parts.append(f"{draw(numbers)}!")
    release = draw(st.lists(numbers, min_size=1, max_size=5))
    # Leading zeros spell the same number: "01" == "1".
    parts.append(".".join(str(n).zfill(draw(st.integers(1, 3))) for n in release))
    if draw(st.booleans()):
        letter = draw(st.sampled_from(["a", "b", "rc", "c", "alpha", "beta", "pre", "preview"]))
        parts.append(f"{draw(st.sampled_from(['', '.', '-']))}{letter}{draw(small | numbers)}")
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from([f".post{draw(small | numbers)}",
                                           f"-{draw(small | numbers)}",
                                           f".rev{draw(small)}"])))
    if draw(st.booleans()):
        parts.append(f".dev{draw(small | numbers)}")
    if draw(st.integers(0, 2)) == 0:
        segments = draw(st.lists(
            st.one_of(st.from_regex(r"[a-zA-Z0-9]{1,4}", fullmatch=True),
                      numbers.map(str)),
            min_size=1, max_size=4))
        separators = [draw(st.sampled_from(".-_")) for _ in segments[1:]]
        local = segments[0] + "".join(s + seg for s, seg in zip(separators, segments[1:],
                                                                  strict=True))
        parts.append("+" + local)
    return Version("".join(parts))


edge_versions = st.sampled_from([Version(v) for v in EDGE_CASES])
any_versions = st.one_of(versions(), edge_versions)
