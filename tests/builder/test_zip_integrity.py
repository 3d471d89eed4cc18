"""Wheels that two zip readers would see differently, or that expand too far, are refused before
anything of them is installed or cached (the class of uv's CVE-2025-54368)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builder.helpers import HttpFetcher, lock_for
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.rawzip import CentralRecord, RawMember, members_of, write_raw_zip
from venvd.builder import BuildCache, BuildOptions, build_environment
from venvd.builder._zipcheck import UnsafeZip, check_wheel_zip
from venvd.errors import BuildError
from venvd.target import Target

MODULE = "evil/__init__.py"


def _rewrite(directory: Path, edit: Callable[[list[RawMember]], object] | None = None,
             **kwargs: object) -> Path:
    """evil 1.0 written by hand, after `edit` changed its members."""
    wheel = make_wheel(directory, "evil", "1.0")
    members = members_of(wheel)
    if edit is not None:
        edit(members)
    return write_raw_zip(directory / "raw" / wheel.name, members, **kwargs)  # type: ignore[arg-type]


def _member(members: list[RawMember], name: str = MODULE) -> RawMember:
    return next(m for m in members if m.name == name)


def _set(name: str, **fields: object) -> Callable[[list[RawMember]], None]:
    def edit(members: list[RawMember]) -> None:
        for key, value in fields.items():
            setattr(_member(members, name), key, value)
    return edit


def _swap_first_two(records: list[CentralRecord]) -> None:
    records[0], records[1] = records[1], records[0]


def _duplicate_module(records: list[CentralRecord]) -> None:
    module = next(r for r in records if r.name == MODULE)
    records.append(CentralRecord(**{**module.__dict__}))


def _overlap(records: list[CentralRecord]) -> None:
    # A second name for the first entry's bytes: the stream reader sees one file, zipfile two.
    first = records[0]
    records.insert(1, CentralRecord(**{**first.__dict__, "name": "evil/hidden.py"}))


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "local name differs": (lambda d: _rewrite(d, _set(MODULE, local_name="evil/__init__.pz")),
                           "is named 'evil/__init__.pz' in its local header"),
    "local CRC differs": (lambda d: _rewrite(d, _set(MODULE, local_crc=1234)), "CRC or sizes"),
    "local size differs": (lambda d: _rewrite(d, _set(MODULE, local_size=1)), "CRC or sizes"),
    "local method differs": (lambda d: _rewrite(d, _set(MODULE, local_method=0)),
                             "compression method 0 in its local header"),
    "duplicate name": (lambda d: _rewrite(d, tamper_cd=_duplicate_module), "listed twice"),
    "overlapping entries": (lambda d: _rewrite(d, tamper_cd=_overlap),
                            "at offset 0 overlaps the previous one"),
    "out of order": (lambda d: _rewrite(d, tamper_cd=_swap_first_two),
                     "at offset 99 leaves unlisted bytes before it (expected offset 0)"),
    "hidden bytes between entries": (
        lambda d: _rewrite(d, gap_before={1: b"PK\x03\x04hidden local entry"}),
        "unlisted bytes before it"),
    "trailing bytes": (lambda d: _rewrite(d, trailing=b"\0" * 40),
                       "no end-of-central-directory record at its end"),
    "second end record": (lambda d: _rewrite(
        d, trailing=b"PK\x05\x06" + b"\0" * 18), "does not end where the end record is"),
    "zip bomb member": (lambda d: make_wheel(d, "evil", "1.0",
                                             extra_members={"evil/zeros.bin": b"\0" * 8_000_000}),
                        "ratio above 200"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ambiguous_or_oversized_wheel_is_refused(case: str, tmp_path: Path, index: LocalIndex,
                                                 fetcher: HttpFetcher) -> None:
    make, reason = CASES[case]
    wheel = make(tmp_path / "dists")
    index.add(wheel)
    cache = BuildCache(tmp_path / "cache")
    with pytest.raises(BuildError) as err:
        build_environment(lock_for(index, [wheel]), Target.current(), cache=cache, fetch=fetcher)
    assert err.value.package == "evil" and err.value.step == "install"
    assert wheel.name in err.value.message and reason in err.value.message
    # Nothing of it stays: no fragment, no environment, not even the verified download.
    assert [p for p in cache.root.rglob("*") if p.is_file()] == []


def test_the_hand_written_zip_itself_is_accepted(tmp_path: Path, index: LocalIndex,
                                                  fetcher: HttpFetcher) -> None:
    """The control: the writer makes valid wheels, so each refusal above is the tampering's."""
    wheel = _rewrite(tmp_path / "dists")
    check_wheel_zip(wheel, max_expanded=10**9, max_ratio=200)
    index.add(wheel)
    artifact = build_environment(lock_for(index, [wheel]), Target.current(),
                                 cache=BuildCache(tmp_path / "cache"), fetch=fetcher)
    assert artifact.manifest["packages"][0]["name"] == "evil"


def test_total_expanded_size_is_bounded_by_the_option(tmp_path: Path, index: LocalIndex,
                                                      fetcher: HttpFetcher) -> None:
    wheel = make_wheel(tmp_path / "dists", "big", "1.0",
                       files={"big/__init__.py": "x = 1\n" * 2000})
    index.add(wheel)
    options = BuildOptions(max_wheel_expanded_size=4096)
    with pytest.raises(BuildError, match="expands to more than 4096 bytes") as err:
        build_environment(lock_for(index, [wheel]), Target.current(),
                          cache=BuildCache(tmp_path / "cache"), fetch=fetcher, options=options)
    assert "max_wheel_expanded_size" in err.value.message


def test_zip64_end_records_are_read(tmp_path: Path) -> None:
    """A zip64 end record (as zipfile writes for forced zip64) is followed, not refused."""
    import zipfile

    path = tmp_path / "z.whl"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("a.txt", "w", force_zip64=True) as f:
            f.write(b"hello")
        zf.writestr("b.txt", b"world")
    check_wheel_zip(path, max_expanded=10**6, max_ratio=200)
    with pytest.raises(UnsafeZip, match="more than 5 bytes"):
        check_wheel_zip(path, max_expanded=5, max_ratio=200)


def test_data_descriptors_of_streamed_zips_are_read(tmp_path: Path) -> None:
    """zipfile writing to an unseekable stream puts CRC and sizes after the data (flag bit 3)."""
    import io
    import zipfile

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

    out = Unseekable()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.txt", "w") as f:
            f.write(b"hello" * 1000)
        zf.writestr("b/c.txt", b"x")
    path = tmp_path / "streamed.whl"
    path.write_bytes(bytes(out.data))
    with zipfile.ZipFile(path) as zf:
        assert all(info.flag_bits & 0x8 for info in zf.infolist())
    check_wheel_zip(path, max_expanded=10**6, max_ratio=200)
    corrupt = bytearray(out.data)
    descriptor = corrupt.index(b"PK\x07\x08")
    corrupt[descriptor + 4] ^= 0xFF  # the descriptor's CRC no longer matches the directory's
    path.write_bytes(bytes(corrupt))
    with pytest.raises(UnsafeZip, match="data descriptor disagrees"):
        check_wheel_zip(path, max_expanded=10**6, max_ratio=200)


def test_a_wheel_with_two_dist_info_directories_fails_as_a_build_error(
        tmp_path: Path, index: LocalIndex, fetcher: HttpFetcher) -> None:
    wheel = make_wheel(tmp_path / "dists", "evil", "1.0",
                       extra_members={"other-1.0.dist-info/METADATA": "Name: other\n"})
    index.add(wheel)
    with pytest.raises(BuildError) as err:
        build_environment(lock_for(index, [wheel]), Target.current(),
                          cache=BuildCache(tmp_path / "cache"), fetch=fetcher)
    assert err.value.step == "verify metadata" and err.value.package == "evil"
    assert "no single .dist-info directory" in err.value.message
    assert str(tmp_path) not in err.value.message
