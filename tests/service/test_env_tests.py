"""Tests a request carries, run by the server in the environment it built (issue 9, "Outputs").

Real server, real local index, real subprocesses; the tests run in bubblewrap where it is installed
(else unsandboxed, as builds are under VENVD_UNSAFE_BUILDS / an embedded service)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import ApiServer
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.builder import environment_key
from venvd.builder._model import BUILDER_FORMAT_VERSION
from venvd.lock import Lock, canonical_json
from venvd.sandbox import bwrap_path
from venvd.service import Service
from venvd.target import Target

FOREIGN = {"python": "3.11", "platform": "macosx_14_0_arm64"}
# Without bubblewrap the tests run unsandboxed only when the operator allows it.
UNSAFE: dict[str, object] = {} if bwrap_path() else {"unsafe_builds": True}


def _create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/environments", json=body)
    assert answer.status_code in (200, 202), answer.text
    return wait_finished(client, answer.json()["id"])


def test_passing_imports_and_commands_make_a_ready_environment(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, **UNSAFE)
    doc = _create(client, {
        "requirements": ["tool", "app"], "target": "current",
        "tests": {"imports": ["tool", "lib"],
                  "commands": ["tool-hello", 'python -c "import sys; print(sys.prefix)"',
                               'test "$VIRTUAL_ENV" = "$(dirname "$(dirname "$(command -v python)")")"']},
    })
    assert doc["status"] == "ready", doc
    tests = doc["tests"]
    assert tests["status"] == "passed", tests
    assert [(r["kind"], r["text"]) for r in tests["results"]] == [
        ("import", "tool"), ("import", "lib"), ("command", "tool-hello"),
        ("command", 'python -c "import sys; print(sys.prefix)"'),
        ("command", 'test "$VIRTUAL_ENV" = "$(dirname "$(dirname "$(command -v python)")")"'),
    ]
    assert all(r["returncode"] == 0 and r["seconds"] >= 0 for r in tests["results"]), tests
    # The console script ran through its shebang, from the environment that was built.
    assert "hello from tool" in tests["results"][2]["output_tail"]
    assert tests["results"][3]["output_tail"].strip() != sys.prefix
    assert "tests" in doc["timings"], doc["timings"]
    assert client.get(f"/v1/environments/{doc['id']}/artifact").status_code == 200


def test_a_failing_command_fails_the_environment_with_its_output(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, **UNSAFE)
    command = "echo broken-marker >&2; tool-hello; exit 3"
    doc = _create(client, {"requirements": ["tool"], "target": "current",
                           "tests": {"imports": ["tool"], "commands": [command, "true"]}})
    assert doc["status"] == "failed", doc
    error = doc["error"]
    assert error["code"] == "tests_failed", error
    assert command in error["message"] and "exit code 3" in error["message"], error
    assert error["details"]["test"] == command and error["details"]["returncode"] == 3
    assert "broken-marker" in error["details"]["output_tail"]
    assert "hello from tool" in error["details"]["output_tail"]
    tests = doc["tests"]
    assert tests["status"] == "failed"
    # Stops at the first failure: "true" did not run.
    assert [r["returncode"] for r in tests["results"]] == [0, 3], tests
    # The failed environment is not served.
    assert client.get(f"/v1/environments/{doc['id']}/artifact").status_code in (404, 409)


def test_a_failing_import_fails_the_environment(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, **UNSAFE)
    doc = _create(client, {"requirements": ["tool"], "target": "current",
                           "tests": {"imports": ["tool", "not_installed_here"]}})
    assert doc["status"] == "failed" and doc["error"]["code"] == "tests_failed", doc
    assert "not_installed_here" in doc["error"]["message"]
    assert "ModuleNotFoundError" in doc["error"]["details"]["output_tail"]


def test_tests_cannot_reach_the_network_or_write_the_environment(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    if bwrap_path() is None:
        pytest.skip("bubblewrap is not installed: tests run unsandboxed")
    client = api(world)
    host, port = world.url.split("//", 1)[1].split("/", 1)[0].split(":")
    reach = f"import socket; socket.create_connection(({host!r}, {port}), timeout=5)"
    doc = _create(client, {"requirements": ["tool"], "target": "current",
                           "tests": {"commands": [f'python -c "{reach}"']}})
    assert doc["status"] == "failed" and doc["error"]["code"] == "tests_failed", doc
    # The index listens on the host's loopback; the sandbox has a loopback of its own.
    assert "ConnectionRefusedError" in doc["error"]["details"]["output_tail"], doc["error"]
    doc = _create(client, {"requirements": ["tool"], "target": "current",
                           "tests": {"commands": ['touch "$VIRTUAL_ENV/written"']}})
    assert doc["status"] == "failed", doc
    assert "Read-only" in doc["error"]["details"]["output_tail"], doc["error"]


def test_the_time_limit_stops_a_test(world: LocalIndex, api: Callable[..., httpx.Client]) -> None:
    client = api(world, test_timeout=2, **UNSAFE)
    started = time.monotonic()
    doc = _create(client, {"requirements": ["tool"], "target": "current",
                           "tests": {"commands": ["echo sleeping; sleep 60"]}})
    assert time.monotonic() - started < 50
    assert doc["status"] == "failed" and doc["error"]["code"] == "tests_failed", doc
    result = doc["tests"]["results"][0]
    assert result["returncode"] is None and result["killed"] == "timeout", result
    assert "sleeping" in result["output_tail"] and "test_timeout" in result["output_tail"]
    assert "stopped (timeout)" in doc["error"]["message"]


@pytest.mark.parametrize("unsafe", [False, True])
def test_without_bubblewrap_tests_run_only_when_unsafe_builds_allow(
    world: LocalIndex, make_service: Callable[..., Service], monkeypatch: pytest.MonkeyPatch,
    unsafe: bool,
) -> None:
    import venvd.sandbox._isolation as isolation

    # A machine without bubblewrap: what the sandbox looks up says it is missing.
    monkeypatch.setattr(isolation, "bwrap_path", lambda: None)
    server = ApiServer(make_service(world, unsafe_builds=unsafe))
    try:
        client = server.client()
        doc = _create(client, {"requirements": ["tool"], "target": "current",
                               "tests": {"commands": ["tool-hello"]}})
        client.close()
    finally:
        server.stop()
    if unsafe:
        assert doc["status"] == "ready", doc
        assert "hello from tool" in doc["tests"]["results"][0]["output_tail"]
    else:
        assert doc["status"] == "failed" and doc["error"]["code"] == "build_failed", doc
        assert "bubblewrap" in doc["error"]["message"] and doc["error"]["details"]["step"] == "tests"


def test_a_foreign_target_records_the_tests_as_not_run(
    world: LocalIndex, api: Callable[..., httpx.Client]
) -> None:
    client = api(world, **UNSAFE)
    doc = _create(client, {"requirements": ["tool"], "target": FOREIGN,
                           "tests": {"imports": ["tool"], "commands": ["false"]}})
    assert doc["status"] == "ready", doc
    tests = doc["tests"]
    assert tests["status"] == "not_run" and tests["results"] == [], tests
    assert "macosx_14_0_arm64" in tests["reason"] and "not this server's platform" in tests["reason"]


@pytest.mark.parametrize(("tests", "field"), [
    ({"imports": ["not a module"]}, "tests.imports.0"),
    ({"imports": ["os."]}, "tests.imports.0"),
    ({"imports": [f"m{i}" for i in range(51)]}, "tests.imports"),
    ({"commands": ["true"] * 21}, "tests.commands"),
    ({"commands": ["x" * 1001]}, "tests.commands.0"),
    ({"commands": [""]}, "tests.commands.0"),
    ({"imports": "os"}, "tests.imports"),
    ({"run": ["true"]}, "tests.run"),
])
def test_bad_tests_are_refused_naming_the_field(
    world: LocalIndex, api: Callable[..., httpx.Client], tests: dict[str, Any], field: str
) -> None:
    client = api(world)
    answer = client.post("/v1/environments",
                         json={"requirements": ["tool"], "target": "current", "tests": tests})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["problems"][0]["field"] == field, error


def test_tests_are_part_of_the_environment_id(
    world: LocalIndex, make_service: Callable[..., Service]
) -> None:
    service = make_service(world, **UNSAFE)
    server = ApiServer(service)
    try:
        client = server.client()
        plain = _create(client, {"requirements": ["tool"], "target": FOREIGN})
        lock = plain["lock"]
        # Without tests, the id is the one the environment always had (no tests in the key).
        target = Target.from_json(lock["target"])
        options = service.environments.options
        assert plain["id"] == environment_key(Lock.from_json(lock), target, options)
        before = {"lock": lock["id"], "target": target.key, "options": options.to_json(),
                  "builder_format": BUILDER_FORMAT_VERSION}  # the key as it was before tests
        assert plain["id"] == hashlib.sha256(canonical_json(before)).hexdigest()
        assert plain.get("tests") is None
        tested = _create(client, {"lock": lock, "tests": {"imports": ["tool"]}})
        assert tested["id"] != plain["id"]
        other = _create(client, {"lock": lock, "tests": {"imports": ["tool"], "commands": ["true"]}})
        assert other["id"] not in (plain["id"], tested["id"])
        # Empty tests are no tests.
        empty = client.post("/v1/environments", json={"lock": lock, "tests": {}}).json()
        assert empty["id"] == plain["id"]
        again = client.post("/v1/environments", json={"lock": lock, "tests": {"imports": ["tool"]}})
        assert again.json()["id"] == tested["id"] and again.json()["created"] is False
        client.close()
    finally:
        server.stop()


def test_cli_create_runs_the_tests(world: LocalIndex, tmp_path: Path) -> None:
    env = {**os.environ, "VENVD_DATA_DIR": str(tmp_path / "data")}
    env.pop("VENVD_SERVER", None)
    base = [sys.executable, "-m", "venvd", "create", "--index-url", world.url]
    ok = subprocess.run([*base, str(tmp_path / "ok"), "tool", "--test-import", "tool",
                         "--test-command", "tool-hello"],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "ok" / "bin" / "tool-hello").exists()
    bad = subprocess.run([*base, str(tmp_path / "bad"), "tool", "--test-command", "echo nope-marker; false"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    assert "Traceback" not in bad.stderr
    assert "echo nope-marker; false" in bad.stderr and "exit code 1" in bad.stderr, bad.stderr
