"""Real pip and real uv install from the server with hash checking: every file they take (upstream
wheels, the wheel the server built from an sdist, the metadata files) must match the hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.simple.conftest import Served, get_json
from tests.support.index_server import LocalIndex


def _requirements(served: Served, upstream: LocalIndex, path: Path) -> str:
    """A fully pinned, hashed requirements file: app, its dependency lib 2.0, and built 1.0 by
    the hash of the wheel the server built (the sdist's hash is not allowed: pip and uv must
    take the built wheel from the listing)."""
    served.build("built")
    built = [f for f in get_json(served.client, "/simple/built/").json()["files"]
             if f["filename"].endswith(".whl")]
    assert len(built) == 1
    app = upstream.files["app-1.0-py2.py3-none-any.whl"].sha256
    lib = upstream.files["lib-2.0-py3-none-any.whl"].sha256
    path.write_text(f"app==1.0 --hash=sha256:{app}\nlib==2.0 --hash=sha256:{lib}\n"
                    f"built==1.0 --hash=sha256:{built[0]['hashes']['sha256']}\n")
    return str(built[0]["filename"])


def isolated_env() -> dict[str, str]:
    """The environment without the machine's pip/uv configuration (extra indexes, find-links):
    the server must be the only source the installers see."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_")) or k in ("PIP_CERT",)}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-cache-dir", "--disable-pip-version-check",
         "--no-input"], capture_output=True, text=True, timeout=300, env=isolated_env())


def _installed(target: Path) -> set[str]:
    return {p.name for p in target.glob("*.dist-info")}


def test_pip_installs_with_require_hashes(upstream: LocalIndex, serve: Callable[..., Served],
                                          tmp_path: Path) -> None:
    served = serve(upstream)
    requirements = tmp_path / "requirements.txt"
    _requirements(served, upstream, requirements)
    target = tmp_path / "target"
    done = pip("install", "--index-url", served.url, "--require-hashes", "-r", str(requirements),
               "--target", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _installed(target) == {"app-1.0.dist-info", "lib-2.0.dist-info", "built-1.0.dist-info"}
    assert upstream.requests_to("app-1.0-py2.py3-none-any.whl")  # through this server
    # A wrong hash is refused by pip: the hashes the server lists are the ones checked.
    requirements.write_text(f"lib==2.0 --hash=sha256:{'0' * 64}\n")
    refused = pip("install", "--index-url", served.url, "--require-hashes", "-r",
                  str(requirements), "--target", str(tmp_path / "other"))
    assert refused.returncode != 0
    assert "hash" in (refused.stdout + refused.stderr).lower()
    # Resolving (no hashes pinned), pip reads the PEP 658 metadata files and checks their hashes.
    resolved = pip("download", "-v", "--index-url", served.url, "-d", str(tmp_path / "dl"),
                   "lib<2")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert "lib-1.0-py2.py3-none-any.whl.metadata" in resolved.stdout
    assert upstream.requests_to("lib-1.0-py2.py3-none-any.whl.metadata")


def test_uv_installs_with_require_hashes(upstream: LocalIndex, serve: Callable[..., Served],
                                         tmp_path: Path) -> None:
    served = serve(upstream)
    requirements = tmp_path / "requirements.txt"
    _requirements(served, upstream, requirements)
    target = tmp_path / "target"
    uv = Path(sys.executable).parent / "uv"
    done = subprocess.run(
        [str(uv), "pip", "install", "--no-cache", "--no-config", "--python", sys.executable,
         "--index-url", served.url, "--require-hashes", "-r", str(requirements),
         "--target", str(target)],
        capture_output=True, text=True, timeout=300, env=isolated_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert _installed(target) == {"app-1.0.dist-info", "lib-2.0.dist-info", "built-1.0.dist-info"}


def test_pip_skips_the_yanked_release(upstream: LocalIndex, serve: Callable[..., Served],
                                      tmp_path: Path) -> None:
    served = serve(upstream)
    chosen = pip("download", "--no-deps", "--index-url", served.url, "-d", str(tmp_path / "a"),
                 "gone")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["gone-1.0-py3-none-any.whl"]
    # Pinned exactly, a yanked release is still installable (PEP 592), with pip's warning.
    pinned = pip("download", "--no-deps", "--index-url", served.url, "-d", str(tmp_path / "b"),
                 "gone==1.1")
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert "broken release" in pinned.stdout + pinned.stderr
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["gone-1.1-py3-none-any.whl"]
