"""A wheel's METADATA read by ranges or download is bounded: no zip bomb in a resolution's memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from tests.support.rawzip import members_of, write_raw_zip
from venvd.errors import UpstreamError
from venvd.index import IndexClient, ProjectPage


@pytest.mark.parametrize("ranges", [True, False])
def test_a_metadata_bomb_is_refused_before_it_is_inflated(
        ranges: bool, local_index: Callable[..., LocalIndex],
        index_client: Callable[..., IndexClient], tmp_path: Path) -> None:
    index = local_index(pep658=False, ranges=ranges)
    wheel = make_wheel(tmp_path / "src", "bomb", "1.0")
    members = members_of(wheel)
    metadata = next(m for m in members if m.name.endswith("/METADATA"))
    # 40 MB of padding in a header field compresses to a few tens of kB.
    metadata.data = metadata.data.replace(b"Version: 1.0\n",
                                          b"Version: 1.0\nX-Pad: " + b"a" * 40_000_000 + b"\n")
    index.add(write_raw_zip(tmp_path / "raw" / wheel.name, members))
    client = index_client(index.url)
    page = client.project_page("bomb")
    assert isinstance(page, ProjectPage)
    with pytest.raises(UpstreamError, match="more than 16777216"):
        client.fetch_metadata(page.files[0])
