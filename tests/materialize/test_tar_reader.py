"""The strict tar reader reads what tarfile writes exactly as tarfile reads it, and refuses the rest."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venvd.materialize._paths import UnsafeArchive
from venvd.materialize._tar import TarReader

KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE,
         tarfile.CHRTYPE]
segment = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=40)
names = st.lists(segment, min_size=1, max_size=8).map("/".join)
members = st.lists(st.tuples(names, st.sampled_from(KINDS), st.integers(0, 0o7777),
                             st.one_of(st.integers(0, 2000), st.sampled_from([511, 512, 513]),
                                       st.just(1_500_000)),
                             names),
                   max_size=12)


def _tar(entries: list[tuple[str, bytes, int, int, str]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as tf:
        for name, kind, mode, size, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname = kind, mode, link
            info.devmajor, info.devminor = 1, 3
            data = bytes(i % 251 for i in range(size)) if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _read(tf: tarfile.TarFile | TarReader, read_every: int) -> list[tuple[object, ...]]:
    seen = []
    for i in range(10_000):
        member = tf.next()
        if member is None:
            return seen
        data = b""
        if member.isfile() and i % read_every == 0:  # else left unread: next() must skip it
            stream = tf.extractfile(member)
            assert stream is not None
            while chunk := stream.read(300_007):
                data += chunk
        seen.append((member.name, member.type, member.mode, member.size if member.isfile() else 0,
                     member.linkname, data))
    raise AssertionError("no end")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members, st.integers(1, 3))
def test_reads_what_tarfile_writes_as_tarfile_reads_it(entries: list[tuple[str, bytes, int, int,
                                                                            str]],
                                                        read_every: int) -> None:
    raw = _tar(entries)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tf:
        expected = _read(tf, read_every)
    assert _read(TarReader(io.BytesIO(raw)), read_every) == expected
    assert len(expected) == len(entries)


def test_ustar_names_split_into_prefix_and_name() -> None:
    name = "a" * 90 + "/" + "b" * 90 + "/file.py"  # too long for the name field: ustar prefix
    raw = _tar([(name, tarfile.REGTYPE, 0o644, 3, "")], fmt=tarfile.USTAR_FORMAT)
    member = TarReader(io.BytesIO(raw)).next()
    assert member is not None and member.name == name and member.size == 3


def _corrupt(raw: bytes, at: int, value: bytes) -> bytes:
    return raw[:at] + value + raw[at + len(value):]


def _pax_tar(records: dict[str, str], kind: bytes = tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("f")
        info.type, info.pax_headers = kind, records
        tf.addfile(info)
    return buf.getvalue()


def _global_pax_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "x"}) as tf:
        tf.addfile(tarfile.TarInfo("f"))
    return buf.getvalue()


ONE_FILE = _tar([("dir/file.txt", tarfile.REGTYPE, 0o644, 1000, "")], fmt=tarfile.USTAR_FORMAT)
REFUSED = {
    "GNU header": (_tar([("x" * 120, tarfile.REGTYPE, 0o644, 1, "")], fmt=tarfile.GNU_FORMAT),
                   "not a POSIX ustar header"),
    "bad checksum": (_corrupt(ONE_FILE, 0, b"e"), "bad checksum"),
    "global extended header": (_global_pax_tar(), "unsupported tar type 'g'"),
    "sparse file": (_pax_tar({"GNU.sparse.size": "10"}), "sparse"),
    "contiguous file": (_tar([("c", tarfile.CONTTYPE, 0o644, 0, "")]), "unsupported tar type '7'"),
    "cut in the data": (ONE_FILE[:700], "truncated"),
    "cut in a header": (ONE_FILE[:300], "truncated"),
    "no end blocks": (ONE_FILE[:1536], "truncated"),
    "base-256 size": (_corrupt(ONE_FILE, 124, b"\x80"), "base-256"),
    "malformed extended header": (_corrupt(_pax_tar({"path": "long"}), 512, b"99"), "malformed"),
    "huge extended header": (_pax_tar({"comment": "x" * (1024 * 1024 + 1)}), "implausibly large"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_anything_else_is_refused(case: str) -> None:
    raw, message = REFUSED[case]
    if case == "base-256 size":  # keep the checksum right: only the encoding is wrong
        raw = _fix_checksum(raw)
    reader = TarReader(io.BytesIO(raw))
    with pytest.raises(UnsafeArchive, match=message):
        while (member := reader.next()) is not None:
            stream = reader.extractfile(member)
            stream.read()


def _fix_checksum(raw: bytes) -> bytes:
    block = bytearray(raw[:512])
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block) + raw[512:]
