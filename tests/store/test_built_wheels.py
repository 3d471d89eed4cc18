"""`BuiltWheels`: the first row of a (sdist, build key) stays, a page's lookup spans chunks, and the
generation changes with every row added (on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

from venvd.store import BuiltWheel, BuiltWheels, Store


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _wheel(sdist: str, key: str = "cp311-linux", wheel: str = "a") -> BuiltWheel:
    return BuiltWheel(sdist_sha256=_sha(sdist), build_key=key, filename=f"p-1.0-{wheel}.whl",
                      sha256=_sha(sdist + wheel), size=10, requires_python=">=3.8",
                      metadata_sha256=None)


def test_the_first_row_stays_and_rows_are_per_build_key(store: Store) -> None:
    rows = BuiltWheels(store)
    assert rows.generation() == (0, None)
    rows.add(_wheel("s1"))
    rows.add(_wheel("s1", wheel="other"))  # a second build of the same pair: ignored
    rows.add(_wheel("s1", key="cp312-linux"))
    assert rows.generation()[0] == 2
    found = rows.find([_sha("s1"), _sha("s2")], "cp311-linux")
    assert list(found) == [_sha("s1")]
    assert found[_sha("s1")].sha256 == _sha("s1a")
    assert found[_sha("s1")].requires_python == ">=3.8"
    assert rows.find([_sha("s1")], "cp312-linux")[_sha("s1")].build_key == "cp312-linux"
    assert rows.find([], "cp311-linux") == {}
    # A build that used another wheel for the pair replaces the row, and the generation changes.
    before = rows.generation()
    rows.add(_wheel("s1", wheel="other"), replace=True)
    assert rows.find([_sha("s1")], "cp311-linux")[_sha("s1")].sha256 == _sha("s1other")
    assert rows.generation() != before and rows.generation()[0] == 2


def test_a_lookup_of_more_sdists_than_one_query_takes(store: Store) -> None:
    rows = BuiltWheels(store)
    sdists = [f"s{i}" for i in range(1200)]
    for name in sdists[::100]:
        rows.add(_wheel(name))
    found = rows.find([_sha(name) for name in sdists], "cp311-linux")
    assert set(found) == {_sha(name) for name in sdists[::100]}
