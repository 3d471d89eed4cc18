"""`venvd export ID --oci DIR`: an OCI image layout that umoci and skopeo accept, whose environment
layer is deterministic, and whose unpacked root filesystem runs the environment (bubblewrap with
the rootfs as /: an import, and a console script found through the config's PATH).

The base image is made here by umoci itself (`umoci new` + `umoci insert`) from this machine's
Python (`_rootfs`), so the layout is read as another tool wrote it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.outputs._rootfs import python_rootfs
from tests.outputs.conftest import ApiServer

VENVD = [sys.executable, "-m", "venvd"]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (Debian: apt-get install -y umoci skopeo bubblewrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """An OCI layout `base` with one image, tag `py`: this machine's Python; and its path."""
    _need("umoci")
    work = tmp_path_factory.mktemp("base")
    rootfs = work / "rootfs"
    python_path = python_rootfs(rootfs)
    layout = work / "base"
    for step in (["umoci", "init", "--layout", layout], ["umoci", "new", "--image", f"{layout}:py"],
                 ["umoci", "insert", "--rootless", "--image", f"{layout}:py", rootfs, "/"]):
        done = _run(*step)
        assert done.returncode == 0, done.stderr
    shutil.rmtree(rootfs)
    yield layout, python_path


def _ready_environment(server: ApiServer) -> dict[str, Any]:
    from venvd.target import Target

    with server.client() as http:
        body = {"requirements": ["app"], "target": Target.current().to_json()}
        doc: dict[str, Any] = http.post("/v1/environments", json=body).json()
        deadline = time.monotonic() + 120
        while doc["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
            doc = http.get(f"/v1/environments/{doc['id']}").json()
    assert doc["status"] == "ready", doc
    return doc


def test_image_runs_the_environment(server: ApiServer, base_image: tuple[Path, str],
                                    tmp_path: Path) -> None:
    _need("umoci", "skopeo", "bwrap")
    base, base_python = base_image
    env = _ready_environment(server)
    image = tmp_path / "image"
    out = _run(*VENVD, "export", env["id"], "--oci", image, "--base", f"{base}:py", "--tag", "v1",
               "--server", server.url)
    assert out.returncode == 0, out.stderr

    assert _run("umoci", "stat", "--image", f"{image}:v1").returncode == 0
    inspected = _run("skopeo", "inspect", f"oci:{image}:v1")
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    base_layers = json.loads(_run("skopeo", "inspect", f"oci:{base}:py").stdout)["Layers"]
    assert info["Layers"][:-1] == base_layers and len(info["Layers"]) == len(base_layers) + 1
    env_vars = dict(e.split("=", 1) for e in info["Env"])
    assert env_vars["VIRTUAL_ENV"] == "/opt/venv"
    assert env_vars["PATH"].startswith("/opt/venv/bin:")
    assert info["Labels"]["org.venvd.environment"] == env["id"]

    bundle = tmp_path / "bundle"
    unpacked = _run("umoci", "unpack", "--rootless", "--image", f"{image}:v1", bundle)
    assert unpacked.returncode == 0, unpacked.stderr
    rootfs = bundle / "rootfs"
    assert os.readlink(rootfs / "opt/venv/bin/python") == base_python
    assert (rootfs / "opt/venv/bin/tool-hello").read_text().startswith("#!/opt/venv/bin/python\n")

    def run_in_image(*command: str) -> subprocess.CompletedProcess[str]:
        setenv = [a for key, value in env_vars.items() for a in ("--setenv", key, value)]
        return _run("bwrap", "--bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev",
                    "--tmpfs", "/tmp", "--unshare-all", "--die-with-parent", "--clearenv",
                    *setenv, "--", *command, timeout=120)

    imported = run_in_image("python", "-c",
                            "import sys, app, lib, tool, bare; print(sys.prefix, sys.executable)")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["/opt/venv", "/opt/venv/bin/python"]
    script = run_in_image("tool-hello")
    assert script.returncode == 0, script.stderr
    assert script.stdout == "hello from tool\n"


def test_layer_is_deterministic(server: ApiServer, tmp_path: Path) -> None:
    _need("umoci")
    from venvd.outputs._oci import OciOptions, export_oci

    env = _ready_environment(server)
    archive = tmp_path / "env.tar.zst"
    with server.client() as http:
        archive.write_bytes(http.get(f"/v1/environments/{env['id']}/artifact").content)
    results = []
    # The second export goes to the same layout under another tag: the first tag stays.
    for tag in ("t", "u"):
        options = OciOptions.checked(tmp_path / "one", base=None, tag=tag, venv_path="/srv/app env",
                                     python_path=None, compression="gzip")
        results.append(export_oci(archive, options, python=sys.executable))
    one, two = results
    assert one.layer_digest == two.layer_digest and one.manifest_digest == two.manifest_digest
    index = json.loads((tmp_path / "one/index.json").read_text())
    tagged = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}
    assert tagged == {"t": one.manifest_digest, "u": one.manifest_digest}
    assert one.python_path == "/usr/bin/python3"  # no base: the documented default
    assert _run("umoci", "stat", "--image", f"{tmp_path / 'one'}:t").returncode == 0

    blob = tmp_path / "one/blobs/sha256" / one.layer_digest.removeprefix("sha256:")
    header = blob.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08" and header[3:8] == b"\0" * 5  # no name, mtime 0
    with tarfile.open(blob) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[:3] == ["srv", "srv/app env", "srv/app env/bin"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(315532800, 0, 0, "", "")}
    files = {m.name: m for m in members}
    assert files["srv/app env/bin/python"].linkname == "/usr/bin/python3"
    # A path with a space takes the /bin/sh trampoline, as installer writes it.
    with tarfile.open(blob) as tf:
        script = tf.extractfile("srv/app env/bin/tool-hello").read()  # type: ignore[union-attr]
        cfg = tf.extractfile("srv/app env/pyvenv.cfg").read().decode()  # type: ignore[union-attr]
    assert script.startswith(b"#!/bin/sh\n'''exec' '/srv/app env/bin/python' \"$0\" \"$@\"\n")
    assert "home = /usr/bin\n" in cfg and "include-system-site-packages = false\n" in cfg
    assert not any(str(tmp_path).encode() in (tf_bytes or b"") for tf_bytes in [script, cfg.encode()])


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "x.tar.zst", "--oci", "img"], "exactly one of"),
    (["--oci", "img", "--tag", "no spaces"], "not a valid image tag"),
    (["--oci", "img", "--path", "opt/venv"], "absolute path"),
    (["--oci", "img", "--python-path", "/usr/../bin/python3"], "absolute path"),
    (["--oci", "notempty"], "neither"),
    (["--oci", "img", "--base", "nolayout"], "not an OCI image layout"),
    (["--oci", "img", "--base", "BASE:nosuchtag"], "no image tagged 'nosuchtag'"),
    (["-o", "x.tar.zst", "--base", "BASE"], "goes with --oci"),
])
def test_bad_options_are_one_line_exit_2(args: list[str], message: str, tmp_path: Path,
                                         base_image: tuple[Path, str]) -> None:
    (tmp_path / "notempty").mkdir()
    (tmp_path / "notempty" / "file").write_text("x")
    (tmp_path / "nolayout").mkdir()
    args = [a.replace("BASE", str(base_image[0])) for a in args]
    out = subprocess.run([*VENVD, "export", "0" * 64, *args], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env={**os.environ, "VENVD_DATA_DIR": str(tmp_path / "d")})
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


def test_multi_platform_base_resolves_to_the_targets_image(server: ApiServer, base_image: tuple[Path, str],
                                                           tmp_path: Path) -> None:
    """A base tag naming an image index (several platforms) is resolved to the target's entry."""
    _need("umoci")
    import hashlib

    from venvd.outputs._oci import OciOptions, export_oci

    base = tmp_path / "base"
    shutil.copytree(base_image[0], base)
    index = json.loads((base / "index.json").read_text())
    ref = "org.opencontainers.image.ref.name"
    amd64 = next(m for m in index["manifests"] if m["annotations"][ref] == "py")
    entries = [{"mediaType": amd64["mediaType"], "digest": amd64["digest"], "size": amd64["size"],
                "platform": {"os": "linux", "architecture": arch}}
               for arch in ("arm64", "amd64")]  # the arm64 entry reuses the blob: never chosen here
    data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}).encode()
    digest = hashlib.sha256(data).hexdigest()
    (base / "blobs/sha256" / digest).write_bytes(data)
    index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                               "digest": f"sha256:{digest}", "size": len(data),
                               "annotations": {ref: "multi"}})
    (base / "index.json").write_text(json.dumps(index))

    env = _ready_environment(server)
    archive = tmp_path / "env.tar.zst"
    with server.client() as http:
        archive.write_bytes(http.get(f"/v1/environments/{env['id']}/artifact").content)
    options = OciOptions.checked(tmp_path / "image", base=f"{base}:multi", tag="t", venv_path="/opt/venv",
                                 python_path=None, compression="none")
    result = export_oci(archive, options, python=sys.executable)
    assert result.python_path == base_image[1]
    manifest = json.loads((tmp_path / "image/blobs/sha256" / result.manifest_digest[7:]).read_text())
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == amd64["digest"]
    assert manifest["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert _run("umoci", "stat", "--image", f"{tmp_path / 'image'}:t").returncode == 0


def test_unusable_base_images_are_refused_clearly(server: ApiServer, tmp_path: Path) -> None:
    """A base without the environment's Python, or for another architecture: InputError naming it."""
    _need("umoci")
    from venvd.errors import InputError
    from venvd.outputs._oci import OciOptions, export_oci

    empty = tmp_path / "empty"
    (empty / "etc").mkdir(parents=True)
    (empty / "etc/hostname").write_text("base\n")
    layout = tmp_path / "base"
    for step in (["umoci", "init", "--layout", layout], ["umoci", "new", "--image", f"{layout}:bare"],
                 ["umoci", "insert", "--rootless", "--image", f"{layout}:bare", empty, "/"],
                 ["umoci", "config", "--image", f"{layout}:bare", "--tag", "other",
                  "--architecture", "s390x"]):
        done = _run(*step)
        assert done.returncode == 0, done.stderr
    env = _ready_environment(server)
    archive = tmp_path / "env.tar.zst"
    with server.client() as http:
        archive.write_bytes(http.get(f"/v1/environments/{env['id']}/artifact").content)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for tag, message in (("bare", f"has no python{version} in /usr/local/bin or /usr/bin"),
                         ("other", "is an image for linux/s390x, and the environment targets linux/")):
        options = OciOptions.checked(tmp_path / f"image-{tag}", base=f"{layout}:{tag}", tag="t",
                                     venv_path="/opt/venv", python_path=None, compression="none")
        with pytest.raises(InputError, match=message):
            export_oci(archive, options, python=sys.executable)
        index = tmp_path / f"image-{tag}" / "index.json"
        assert not index.exists()  # refused before any image was written


@pytest.mark.parametrize("compression", ["tar", "tar+gzip", "tar+zstd"])
def test_base_layers_are_read_in_each_compression(compression: str, tmp_path: Path) -> None:
    import gzip
    import hashlib
    import io

    import zstandard

    from venvd.outputs._oci_layout import BaseImage

    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tf:
        for name in ("./usr/", "./usr/bin/python3.11"):
            tf.addfile(tarfile.TarInfo(name))
    data = {"tar": plain.getvalue(), "tar+gzip": gzip.compress(plain.getvalue()),
            "tar+zstd": zstandard.ZstdCompressor().compress(plain.getvalue())}[compression]
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / "blobs/sha256").mkdir(parents=True)
    (tmp_path / "blobs/sha256" / digest).write_bytes(data)
    layer = {"mediaType": f"application/vnd.oci.image.layer.v1.{compression}", "digest": f"sha256:{digest}",
             "size": len(data)}
    base = BaseImage(root=tmp_path, name="b", manifest_digest="sha256:x", manifest={"layers": [layer]},
                     config={})
    assert base.layer_names() == {"usr", "usr/bin/python3.11"}
