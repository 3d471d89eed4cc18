"""A small world whose packages declare their licences every way core metadata can.

app 1.0 ──▶ lib ──▶ bare          app: License-Expression "MIT OR Apache-2.0"
   └─────▶ tool                   lib: classifiers (MIT, BSD), tool: a License field,
                                  bare: nothing; tool has the console script `tool-hello`
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.conftest import ApiServer
from tests.support.dists import make_wheel
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings


@pytest.fixture
def licensed(local_index: Callable[..., LocalIndex], tmp_path: Path) -> LocalIndex:
    index = local_index()
    src = tmp_path / "src"
    index.add(make_wheel(src, "app", "1.0", requires_dist=["lib>=1", "tool"],
                         metadata_lines=["License-Expression: MIT OR Apache-2.0"]))
    index.add(make_wheel(src, "lib", "1.0", requires_dist=["bare"], metadata_lines=[
        "Classifier: License :: OSI Approved :: MIT License",
        "Classifier: License :: OSI Approved :: BSD License",
        "Classifier: Programming Language :: Python :: 3"]))
    index.add(make_wheel(
        src, "tool", "1.0", console_scripts={"tool-hello": "tool:main"},
        files={"tool/__init__.py": "def main():\n    print('hello from tool')\n"},
        metadata_lines=["License: Tool Public Licence"]))
    index.add(make_wheel(src, "bare", "1.0"))
    return index


@pytest.fixture
def service(licensed: LocalIndex, tmp_path: Path) -> Iterator[Service]:
    service = Service.open(Settings(data_dir=tmp_path / "data", index_url=licensed.url,  # type: ignore[call-arg]
                                    http_retries=1))
    yield service
    service.close()


@pytest.fixture
def server(service: Service) -> Iterator[ApiServer]:
    server = ApiServer(service)
    yield server
    server.stop()
