"""A full object store while storing an upload: 507 `no_space`, nothing recorded, no object or
temporary file left, and the server takes the next upload that fits (a real 2 MB tmpfs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dists import make_wheel
from tests.uploads.conftest import Team, upload


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted as the object store (skipped where mounting is not permitted)."""
    objects = tmp_path / "objects"
    objects.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(objects)],
                             capture_output=True, text=True, timeout=30, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield objects
    finally:
        subprocess.run(["umount", "-l", str(objects)], capture_output=True, timeout=30, check=False)


def test_a_full_object_store_refuses_the_upload_and_keeps_nothing(
        team: Callable[..., Team], tmp_path: Path, small_disk: Path) -> None:
    server = team(object_store=str(small_disk))
    big = make_wheel(tmp_path / "big", "teamlib", "1.0",
                     files={"teamlib/blob.bin": os.urandom(3 * 1024 * 1024)})
    answer = upload(server.http, big)
    assert answer.status_code == 507, answer.text
    error = answer.json()["error"]
    assert error["code"] == "no_space" and big.name in error["message"]
    assert server.rows() == 0
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []
    assert server.http.get("/team/simple/teamlib/").status_code == 404
    small = make_wheel(tmp_path / "small", "teamlib", "1.0")
    assert upload(server.http, small).status_code == 200
    assert server.rows() == 1
