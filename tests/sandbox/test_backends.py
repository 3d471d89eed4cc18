"""Real sdists from the local index, built by real backends whose wheels the index serves too:
setup.py with setuptools' legacy backend, setuptools, hatchling and flit_core. Build requirements
come through venvd's own index client (the index logs them); the build itself is offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.dists import make_real_sdist
from tests.support.index_server import LocalIndex
from venvd.service import Service, Settings
from venvd.target import Target


def _build(service: Service, requirement: str) -> dict[str, object]:
    doc = service.environments.create_from_json(
        {"requirements": [requirement], "target": Target.current().to_json()})
    final: dict[str, object] = service.environments.wait(str(doc["id"]), timeout=300)
    return final


@pytest.mark.parametrize("backend", ["setup.py", "setuptools", "hatchling", "flit_core"])
def test_sdist_of_each_backend_resolves_and_builds(backend: str, tmp_path: Path,
                                                   backend_index: LocalIndex,
                                                   service: Service) -> None:
    name = f"real-{backend.replace('_', '-').replace('.', '-')}"
    backend_index.add(make_real_sdist(tmp_path / "src", name, "1.0", backend=backend,
                                      requires_dist=["wheel"]))
    final = _build(service, name)
    assert final["status"] == "ready", final["error"]
    manifest = final["manifest"]
    assert isinstance(manifest, dict)
    built = {p["name"]: p for p in manifest["packages"]}
    assert built[name]["built_from_sdist"]
    assert built[name]["wheel"].startswith(name.replace("-", "_") + "-1.0-")
    # The sdist's metadata was built (PKG-INFO 2.1 is not final) and gave its dependency.
    assert "wheel" in built
    # Build requirements came from our index, as wheels.
    fetched = {r.path.rsplit("/", 1)[-1] for r in backend_index.requests if r.path.endswith(".whl")}
    wanted = {"setup.py": "setuptools-", "setuptools": "setuptools-", "hatchling": "hatchling-",
              "flit_core": "flit_core-"}[backend]
    assert any(f.startswith(wanted) for f in fetched), fetched
    # Nothing of the builds stays behind in the data dir's temp dir.
    assert list((service.settings.data_dir / "tmp").iterdir()) == []


def test_relative_data_dir_builds_sdists(tmp_path: Path, backend_index: LocalIndex,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    backend_index.add(make_real_sdist(tmp_path / "src", "docoptish", "0.6.2", backend="setup.py"))
    monkeypatch.chdir(tmp_path)
    with Service.open(Settings(data_dir=Path("ddata"), index_url=backend_index.url,
                               http_retries=1)) as service:
        final = _build(service, "docoptish")
        assert final["status"] == "ready", final["error"]
        assert service.settings.data_dir == tmp_path / "ddata"
    assert os.path.isdir(tmp_path / "ddata" / "cache")

