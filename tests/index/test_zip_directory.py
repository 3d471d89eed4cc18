"""`_zip_directory`: a wheel's METADATA found by searching the central directory agrees with zipfile.

The contract: whenever the search answers, its bytes are what `wheel_metadata_member` + `zf.read`
give for the same archive; when zipfile would refuse the archive (or choose differently), the search
answers None and the caller falls back to zipfile. Archives are written by zipfile itself, read
through the real `RemoteFile` over HTTP range answers served from the bytes.
"""

from __future__ import annotations

import io
import warnings
import zipfile

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venvd.dist import DistFile
from venvd.index._lazy_zip import RemoteFile
from venvd.index._metadata import InvalidCoreMetadata, wheel_metadata_member
from venvd.index._zip_directory import wheel_metadata_by_directory

WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def _dist() -> DistFile:
    made = DistFile.from_filename(WHEEL, f"https://files.test/{WHEEL}")
    assert made is not None
    return made


def _remote(data: bytes, tail: int) -> RemoteFile:
    """`data` behind range requests, as a server that honours them answers."""

    def get_range(spec: str) -> httpx.Response:
        lo_text, _, hi_text = spec.removeprefix("bytes=").partition("-")
        if not lo_text:  # suffix range: the last N bytes
            lo, hi = max(0, len(data) - int(hi_text)), len(data) - 1
        else:
            lo, hi = int(lo_text), min(int(hi_text), len(data) - 1)
        return httpx.Response(206, content=data[lo:hi + 1],
                              headers={"Content-Range": f"bytes {lo}-{hi}/{len(data)}"})

    return RemoteFile.open(get_range, tail)


def _by_zipfile(data: bytes) -> bytes | None:
    """What the zipfile path gives: the member's bytes, or None when it refuses the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(wheel_metadata_member(zf, _dist()))
    except (zipfile.BadZipFile, InvalidCoreMetadata, NotImplementedError, RuntimeError):
        return None


def _archive(entries: list[tuple[str, bytes, int, bytes, bytes]], comment: bytes,
             prefix: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    buffer.write(prefix)
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "a" if prefix else "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are wanted here
        for name, content, method, extra, entry_comment in entries:
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.extra = extra
            info.comment = entry_comment
            zf.writestr(info, content)
        zf.comment = comment
    return buffer.getvalue()


_NAMES = st.sampled_from([
    "demo_pkg-1.0.dist-info/METADATA",
    "demo_pkg-1.0.dist-info/METADATA",  # twice: a duplicate name
    "other-2.0.dist-info/METADATA",
    "demo_pkg/x.dist-info/METADATA",  # not top-level
    "demo_pkg-1.0.dist-info/METADATA.bak",
    "demo_pkg-1.0.dist-info/RECORD",
    "demo_pkg/__init__.py",
    "demo_pkg/data/ünïcode.dist-info/METADATA",
    "a" * 300 + ".dist-info/METADATA",
])
_ENTRY = st.tuples(
    _NAMES,
    st.binary(max_size=3000) | st.just(b"Metadata-Version: 2.1\nName: demo-pkg\n" * 50),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    st.sampled_from([b"", b"\xfe\xca\x00\x00", b"\x99\x99\x04\x00.dist-info/METADATA"[:8]]),
    st.sampled_from([b"", b"a comment", b"x.dist-info/METADATA"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_ENTRY, max_size=8),
       filler=st.integers(min_value=0, max_value=400),
       comment=st.sampled_from([b"", b"zip comment", b"PK\x05\x06 looks like an end record"]),
       tail=st.sampled_from([64, 1024, 64 * 1024]),
       prefix=st.sampled_from([b"", b"#!/bin/sh\n"]))
def test_agrees_with_zipfile(entries: list[tuple[str, bytes, int, bytes, bytes]], filler: int,
                             comment: bytes, tail: int, prefix: bytes) -> None:
    # Many ordinary files around them, as in a real wheel (a directory longer than the tail).
    ordinary = [(f"demo_pkg/data/file{i:05d}.json", b"{}", zipfile.ZIP_STORED, b"", b"")
                for i in range(filler)]
    data = _archive(ordinary + entries, comment, prefix)
    expected = _by_zipfile(data)
    found = wheel_metadata_by_directory(_remote(data, tail), _dist(), tail)
    assert found is None or found == expected
    if expected is None:
        assert found is None


def test_an_ordinary_wheel_is_read_without_zipfile_in_three_requests() -> None:
    files = [(f"demo_pkg/data/file{i:05d}.json", b"{}" * 40, zipfile.ZIP_DEFLATED, b"", b"")
             for i in range(3000)]
    metadata = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nRequires-Dist: idna\n"
    dist_info = [("demo_pkg-1.0.dist-info/METADATA", metadata, zipfile.ZIP_DEFLATED, b"", b""),
                 ("demo_pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n", zipfile.ZIP_DEFLATED,
                  b"", b""),
                 ("demo_pkg-1.0.dist-info/RECORD", b"", zipfile.ZIP_DEFLATED, b"", b"")]
    data = _archive(files + dist_info, b"")
    remote = _remote(data, 64 * 1024)
    assert wheel_metadata_by_directory(remote, _dist(), 64 * 1024) == metadata
    # The tail, the rest of the directory (longer than the tail), the member's span.
    assert remote.requests == 3


@pytest.mark.parametrize("damage", ["crc", "local name", "method"])
def test_damaged_members_are_left_to_zipfile(damage: str) -> None:
    metadata = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"
    data = bytearray(_archive([("demo_pkg-1.0.dist-info/METADATA", metadata, zipfile.ZIP_STORED,
                                b"", b"")], b""))
    if damage == "crc":
        data[data.index(metadata)] ^= 0xFF  # the stored bytes no longer match their CRC-32
    elif damage == "local name":
        data[30] ^= 0x01  # the local header's copy of the name (zipfile refuses the mismatch)
    else:
        central = data.index(b"PK\x01\x02")
        data[central + 10] = 99  # AES: a method zipfile does not read
    assert wheel_metadata_by_directory(_remote(bytes(data), 64 * 1024), _dist(), 64 * 1024) is None
