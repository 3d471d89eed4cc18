"""The server with pypi.org as its upstream (marked `network`; CI deselects it): pip downloads one
small wheel through it, checking the hash it pins against what the server lists and serves."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.simple.conftest import Served, get_json
from tests.simple.test_installers import pip

pytestmark = pytest.mark.network

SIX = "six-1.16.0-py2.py3-none-any.whl"
SIX_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def test_pip_downloads_six_through_the_server(serve: Callable[..., Served],
                                              tmp_path: Path) -> None:
    served = serve("https://pypi.org/simple/")
    page = get_json(served.client, "/simple/six/").json()
    listed = {f["filename"]: f for f in page["files"]}
    assert listed[SIX]["hashes"] == {"sha256": SIX_SHA256}
    assert listed[SIX]["size"] == 11053  # PEP 700 fields pass through
    assert listed[SIX]["upload-time"].startswith("2021-05-05T14:18:17")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"six==1.16.0 --hash=sha256:{SIX_SHA256}\n")
    done = pip("download", "--no-deps", "--only-binary", ":all:", "--index-url", served.url,
               "--require-hashes", "-r", str(requirements), "-d", str(tmp_path / "dl"))
    assert done.returncode == 0, done.stdout + done.stderr
    data = (tmp_path / "dl" / SIX).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SIX_SHA256
    cached = served.service.settings.data_dir / "cache" / "wheels-v1" / SIX_SHA256[:2] / SIX_SHA256
    assert (cached / SIX).read_bytes() == data  # held now: the next client is served locally
