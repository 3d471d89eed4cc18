"""Project pages: round trip of every DistFile field, atomic replacement, revalidation, versions."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.store.strategies import any_versions
from venvd.dist import DistFile
from venvd.store import Store

INDEX = "https://example.test/simple"
T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _file(filename: str, **fields: object) -> DistFile:
    made = DistFile.from_filename(filename, f"https://files.test/{filename}", **fields)
    assert made is not None
    return made


def _files() -> list[DistFile]:
    plus2 = timezone(timedelta(hours=2))
    return [
        _file("demo_pkg-1.0.tar.gz", sha256="a" * 64, size=1234, requires_python=">=3.8",
              upload_time=datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=plus2), index_url=INDEX),
        _file("demo_pkg-1.0-py2.py3-none-any.whl", sha256="b" * 64, size=5 * 2**31,
              metadata_sha256="c" * 64, yanked="", upload_time=T0, index_url=INDEX),
        _file("demo_pkg-2.0rc1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              sha256="d" * 64, yanked="broken build", metadata_sha256="", index_url=INDEX),
        _file("demo_pkg-2.0.tar.gz"),  # nothing known but the URL: cache key falls back to it
    ]


def test_page_round_trip_keeps_every_field(store: Store) -> None:
    files = _files()
    store.put_project_page("Demo_Pkg", INDEX, files, '"etag-1"', T0)

    page = store.get_project_page("demo-pkg")
    assert page is not None
    assert page.name == "demo-pkg"
    assert (page.index_url, page.etag, page.fetched_at) == (INDEX, '"etag-1"', T0)
    assert page.fetched_at.tzinfo is UTC
    assert page.files == files  # dataclass equality: every field, in the index's order
    wheel, manylinux = page.files[1], page.files[2]
    assert len(wheel.tags) == 2 and len(manylinux.tags) == 2
    assert (wheel.yanked, manylinux.yanked, page.files[0].yanked) == ("", "broken build", None)
    first_upload = page.files[0].upload_time
    assert first_upload is not None and first_upload.tzinfo is UTC
    assert first_upload == datetime(2020, 1, 2, 1, 4, 5, 678901, tzinfo=UTC)
    assert [f.cache_key for f in page.files] == [f.cache_key for f in files]
    assert store.get_project_page("demo-pkg-other") is None


def test_rows_of_a_page_keep_each_files_spelling_and_tags(store: Store) -> None:
    """A page's rows convert what files share (version, tag set) once: files whose versions are
    equal but spelled differently (1.0, 1.0.0) and files sharing a tag set still come back each
    with its own spelling and tags."""
    files = [
        _file("demo_pkg-1.0-py3-none-any.whl", index_url=INDEX),
        _file("demo_pkg-1.0.0-py3-none-any.whl", index_url=INDEX),
        _file("demo_pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", index_url=INDEX),
        _file("demo_pkg-1.0.0.tar.gz", index_url=INDEX),
        _file("demo_pkg-1.0.tar.gz", index_url=INDEX),
        _file("demo_pkg-2.0-py3-none-any.whl", index_url=INDEX),
    ]
    assert files[0].version == files[1].version
    store.put_project_page("demo-pkg", INDEX, files, None, T0)

    page = store.get_project_page("demo-pkg")
    assert page is not None
    assert page.files == files
    assert [str(f.version) for f in page.files] == ["1.0", "1.0.0", "1.0", "1.0.0", "1.0", "2.0"]
    assert [sorted(map(str, f.tags)) for f in page.files] == [sorted(map(str, f.tags))
                                                             for f in files]


def test_page_without_files(store: Store) -> None:
    store.put_project_page("empty", INDEX, [], None, T0)
    page = store.get_project_page("empty")
    assert page is not None and page.files == [] and page.etag is None


def test_put_replaces_the_file_list(store: Store) -> None:
    store.put_project_page("demo-pkg", INDEX, _files(), "e1", T0)
    later = T0 + timedelta(hours=1)
    store.put_project_page("demo-pkg", INDEX + "/other", _files()[:1], "e2", later)
    page = store.get_project_page("demo-pkg")
    assert page is not None
    assert [f.filename for f in page.files] == ["demo_pkg-1.0.tar.gz"]
    assert (page.index_url, page.etag, page.fetched_at) == (INDEX + "/other", "e2", later)


def test_readers_never_see_a_half_replaced_page(store: Store) -> None:
    old, new = _files(), _files()[1:3]
    store.put_project_page("demo-pkg", INDEX, old, "old", T0)
    allowed = {tuple(f.filename for f in old), tuple(f.filename for f in new)}
    seen: list[tuple[str, ...]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            page = store.get_project_page("demo-pkg")
            assert page is not None
            seen.append(tuple(f.filename for f in page.files))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for i in range(20):
            store.put_project_page("demo-pkg", INDEX, new if i % 2 else old, str(i), T0)
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert seen and set(seen) <= allowed


def test_touch_after_not_modified(store: Store) -> None:
    assert store.touch_project_page("demo-pkg", T0) is False
    store.put_project_page("demo-pkg", INDEX, _files(), "e1", T0)
    later = T0 + timedelta(minutes=5)
    assert store.touch_project_page("Demo.Pkg", later) is True
    page = store.get_project_page("demo-pkg")
    assert page is not None and page.fetched_at == later and page.etag == "e1"
    assert store.touch_project_page("demo-pkg", later, "e2") is True
    page = store.get_project_page("demo-pkg")
    assert page is not None and page.etag == "e2" and len(page.files) == 4


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.put_project_page("demo-pkg", INDEX, [], None, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        store.put_project_page("demo-pkg", INDEX, [_file("demo-1.0.tar.gz",
                                                         upload_time=datetime(2024, 1, 1))],
                               None, T0)
    assert store.get_project_page("demo-pkg") is None


def _page_of_versions(store: Store, versions: list[Version]) -> str:
    name = f"p{uuid.uuid4().hex[:10]}"
    files = [DistFile(project=canonicalize_name(name), filename=f"{name}-{v}-{i}.tar.gz",
                      url=f"https://files.test/{i}", version=v, kind="sdist", tags=frozenset())
             for i, v in enumerate(versions)]
    store.put_project_page(name, INDEX, files, None, T0)
    return name


def test_versions_newest_first_and_distinct(store: Store) -> None:
    name = _page_of_versions(store, [Version(v) for v in
                                     ["1.0", "2.0rc1", "1.0.0", "1.10", "1.9", "1.0+local",
                                      "2.0", "1!0.1", "1.0.post1", "1.0.dev0"]])
    assert [str(v) for v in store.versions(name)] == [
        "1!0.1", "2.0", "2.0rc1", "1.10", "1.9", "1.0.post1", "1.0+local", "1.0", "1.0.dev0"]
    assert [str(v) for v in store.versions(name, SpecifierSet(">=1.0,<2"))] == [
        "1.10", "1.9", "1.0.post1", "1.0+local", "1.0"]
    assert [str(v) for v in store.versions(name, SpecifierSet("==1.0"))] == ["1.0+local", "1.0"]
    assert [str(v) for v in store.versions(name, SpecifierSet(">=2.0rc1"))] == [
        "1!0.1", "2.0", "2.0rc1"]
    assert [str(v) for v in store.versions(name, SpecifierSet(">1.9"),
                                           prereleases=False)] == ["1!0.1", "2.0", "1.10"]
    assert store.versions("never-stored") == []


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(any_versions, min_size=1, max_size=40))
def test_order_by_sort_key_in_sql_matches_packaging(store: Store, versions: list[Version]) -> None:
    name = _page_of_versions(store, versions)
    assert store.versions(name) == sorted(set(versions), reverse=True)


_SPECS = st.sampled_from(["==", "!=", ">=", "<=", ">", "<", "~="])


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(any_versions, min_size=1, max_size=30), _SPECS, any_versions, st.booleans())
def test_versions_with_specifier_match_packaging(store: Store, versions: list[Version], op: str,
                                                 bound: Version, prereleases: bool) -> None:
    text = f"{op}{bound}" if op in ("==", "!=") else f"{op}{bound.public}"
    if op == "~=":  # needs at least two release parts
        text = "~=" + ".".join(str(n) for n in (*bound.release, 0)[:max(2, len(bound.release))])
    specifier = SpecifierSet(text)
    name = _page_of_versions(store, versions)
    expected = list(specifier.filter(sorted(set(versions), reverse=True),
                                     prereleases=prereleases or None))
    assert store.versions(name, specifier, prereleases=prereleases or None) == expected


@pytest.mark.postgres
def test_postgres_version_key_columns_collate_c(postgres_url: str, store: Store) -> None:
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT table_name, collation_name FROM information_schema.columns "
            "WHERE column_name = 'version_key' AND table_schema = current_schema()")).all()
    engine.dispose()
    assert sorted(rows) == [("core_metadata", "C"), ("environment_packages", "C"), ("files", "C"),
                            ("private_files", "C")]
