"""The SBOM of an environment: valid CycloneDX 1.6 (the library's strict schema validator), with
purls, hashes of the installed files, declared licences, the dependency graph and the target."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.outputs.conftest import ApiServer
from venvd.service import Service

TARGET = {"python": "3.11", "platform": "manylinux_2_28_x86_64"}


def _validate(text: str) -> dict[str, Any]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc: dict[str, Any] = json.loads(text)
    return doc


def _ready(server: ApiServer, body: dict[str, Any]) -> dict[str, Any]:
    with server.client() as http:
        doc: dict[str, Any] = http.post("/v1/environments", json=body).json()
        deadline = time.monotonic() + 120
        while doc["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
            doc = http.get(f"/v1/environments/{doc['id']}").json()
    assert doc["status"] == "ready", doc
    return doc


def test_sbom_over_http_is_valid_and_complete(server: ApiServer) -> None:
    env = _ready(server, {"requirements": ["app"], "target": TARGET})
    with server.client() as http:
        response = http.get(f"/v1/environments/{env['id']}/sbom")
        again = http.get(f"/v1/environments/{env['id']}/sbom")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    doc = _validate(response.text)
    assert doc["specVersion"] == "1.6"
    assert again.text == response.text  # a function of the environment: same bytes

    components = {c["name"]: c for c in doc["components"]}
    assert set(components) == {"app", "lib", "tool", "bare"}
    lock = {p["name"]: p for p in env["lock"]["packages"]}
    for name, component in components.items():
        assert component["purl"] == f"pkg:pypi/{name}@1.0" == component["bom-ref"]
        assert component["version"] == "1.0"
        assert component["hashes"] == [{"alg": "SHA-256",
                                        "content": lock[name]["files"][0]["sha256"]}]
        assert component["externalReferences"][0]["url"] == lock[name]["files"][0]["url"]
    assert components["app"]["licenses"] == [
        {"expression": "MIT OR Apache-2.0", "acknowledgement": "declared"}]
    assert components["lib"]["licenses"] == [
        {"license": {"id": "MIT", "acknowledgement": "declared"}},
        {"license": {"name": "BSD License", "acknowledgement": "declared"}}]
    assert components["tool"]["licenses"] == [
        {"license": {"name": "Tool Public Licence", "acknowledgement": "declared"}}]
    assert "licenses" not in components["bare"]

    graph = {d["ref"]: sorted(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert graph["environment"] == ["pkg:pypi/app@1.0"]
    assert graph["pkg:pypi/app@1.0"] == ["pkg:pypi/lib@1.0", "pkg:pypi/tool@1.0"]
    assert graph["pkg:pypi/lib@1.0"] == ["pkg:pypi/bare@1.0"]
    assert graph["pkg:pypi/bare@1.0"] == []

    metadata = doc["metadata"]
    assert metadata["component"]["bom-ref"] == "environment"
    props: dict[str, list[str]] = {}
    for prop in metadata["properties"]:
        props.setdefault(prop["name"], []).append(prop["value"])
    assert props["venvd:environment"] == [env["id"]]
    assert props["venvd:target:marker:python_version"] == ["3.11"]
    assert props["venvd:target:marker:sys_platform"] == ["linux"]
    tags = env["lock"]["target"]["compatible_tags"]
    assert sorted(props["venvd:target:tag"], key=lambda v: int(v.split(":")[0])) == [
        f"{i}:{t}" for i, t in enumerate(tags[:10])]
    assert props["venvd:target:tags_total"] == [str(len(tags))]


def test_sbom_unknown_is_404_and_not_ready_is_409(server: ApiServer, service: Service) -> None:
    with server.client() as http:
        unknown = http.get("/v1/environments/" + "0" * 64 + "/sbom")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "not_found"
    env = _ready(server, {"requirements": ["bare"], "target": TARGET})
    record = service.store.get_environment(env["id"])
    assert record is not None
    # The store's own transition, as a rebuild after cache GC makes it.
    service.store.update_environment(env["id"], status="building")
    with server.client() as http:
        answer = http.get(f"/v1/environments/{env['id']}/sbom")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "not_ready" and error["details"]["status"] == "building"


def test_sbom_command_http_and_in_process(server: ApiServer, tmp_path: Path) -> None:
    env = _ready(server, {"requirements": ["app"], "target": TARGET})
    out = tmp_path / "sbom.json"
    run = subprocess.run([sys.executable, "-m", "venvd", "sbom", env["id"], "-o", str(out),
                          "--server", server.url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    over_http = out.read_text()
    assert {c["name"] for c in _validate(over_http)["components"]} == {"app", "lib", "tool", "bare"}

    # In process, on the server's own store (SQLite in its data dir): the same document.
    data_dir = str(tmp_path / "data")
    local = subprocess.run([sys.executable, "-m", "venvd", "sbom", env["id"], "--data-dir", data_dir],
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    assert local.stdout == over_http

    for where in (["--server", server.url], ["--data-dir", data_dir]):
        unknown = subprocess.run([sys.executable, "-m", "venvd", "sbom", "f" * 64, *where],
                                 capture_output=True, text=True, timeout=120)
        assert unknown.returncode == 1, unknown.stderr
        assert unknown.stderr.count("\n") == 1 and "no environment" in unknown.stderr, unknown.stderr
