"""Against the real public index (deselected in CI): a page and one wheel's metadata of `six`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from venvd.index import IndexClient, ProjectPage

pytestmark = pytest.mark.network


def test_six_from_pypi(index_client: Callable[..., IndexClient]) -> None:
    client = index_client("https://pypi.org/simple/")
    page = client.project_page("six")
    assert isinstance(page, ProjectPage) and page.name == "six"
    wheels = [f for f in page.files if f.filename == "six-1.16.0-py2.py3-none-any.whl"]
    assert len(wheels) == 1 and wheels[0].sha256 and wheels[0].upload_time is not None
    meta = client.fetch_metadata(wheels[0])
    assert (meta.name, str(meta.version)) == ("six", "1.16.0")
    assert meta.requires_python == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
