"""`venvd query` and `venvd why` as a user runs them (real subprocesses): in-process on the data
dir a real server built environments in, and through that server with --server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.impact.conftest import LINUX_311
from tests.service.conftest import ApiServer
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.service import Service


def venvd(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENVD_DATA_DIR": str(data_dir)}
    env.pop("VENVD_SERVER", None)
    return subprocess.run([sys.executable, "-m", "venvd", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def built(diamond: LocalIndex, make_service: Callable[..., Service],
          tmp_path: Path) -> tuple[ApiServer, Path, str]:
    """A server whose data dir holds the environment of `top` (built for real)."""
    data_dir = tmp_path / "served"
    server = ApiServer(make_service(diamond, data_dir=data_dir))
    with server.client() as client:
        created = client.post("/v1/environments", json={"requirements": ["top"],
                                                        "target": LINUX_311})
        assert created.status_code in (200, 202), created.text
        env_id = wait_finished(client, created.json()["id"])["id"]
    yield server, data_dir, env_id  # type: ignore[misc]
    server.stop()


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "server"])
def test_query_and_why(built: tuple[ApiServer, Path, str], remote: bool, tmp_path: Path) -> None:
    server, data_dir, env_id = built
    via = ["--server", server.url] if remote else []
    found = venvd("query", "BASE<2", *via, data_dir=data_dir)
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0].split()[:3] == ["ENVIRONMENT", "VERSION", "STATUS"]
    assert lines[1].split()[:3] == [env_id[:12], "1.4.2", "ready"] and lines[1].endswith("top")
    assert "1 environment hold base<2" in found.stderr
    as_json = json.loads(venvd("query", "base", "--json", *via, data_dir=data_dir).stdout)
    assert [e["id"] for e in as_json["items"]] == [env_id]

    none = venvd("query", "base>=2", *via, data_dir=data_dir)
    assert none.returncode == 0 and none.stdout.strip() == "no environment holds base>=2"

    why = venvd("why", env_id, "base", *via, data_dir=data_dir)
    assert why.returncode == 0, why.stderr
    assert why.stdout.splitlines() == [f"base 1.4.2 in {env_id[:12]}:",
                                       "  top -> left -> base", "  top -> right -> base"]
    why_json = json.loads(venvd("why", env_id, "left", "--json", *via, data_dir=data_dir).stdout)
    assert why_json["paths"] == [["top", "left"]]


@pytest.mark.parametrize(("args", "code", "says"), [
    (("query", "base<<2"), 2, "query"),
    (("query", "base[x]<2"), 2, "name and a version specifier only"),
    (("why", "nope", "base"), 1, "no environment"),
    (("why", "{env}", "solo"), 1, "does not hold solo"),
])
@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "server"])
def test_bad_input_is_one_line_and_an_exit_code(built: tuple[ApiServer, Path, str], remote: bool,
                                                args: tuple[str, ...], code: int,
                                                says: str) -> None:
    server, data_dir, env_id = built
    via = ["--server", server.url] if remote else []
    out = venvd(*(a.format(env=env_id) for a in args), *via, data_dir=data_dir)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert says in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
