"""The outside tools against a real server: `twine upload --repository-url` (HTTP Basic with
`__token__`), then `pip install` from /team/simple/ with hash checking, as subprocesses."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.dists import make_sdist, make_wheel
from tests.uploads.conftest import Team


def _twine(server: Team, token: str, *dists: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TWINE_USERNAME": "__token__", "TWINE_PASSWORD": token}
    env.pop("TWINE_REPOSITORY_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
         "--verbose", "--repository-url", f"{server.url}/team/", *map(str, dists)],
        capture_output=True, text=True, timeout=120, env=env, check=False)


def test_twine_uploads_and_pip_installs_with_hashes(team: Callable[..., Team],
                                                    tmp_path: Path) -> None:
    server = team(auth="required")
    token = server.token("ci", "build")
    dists = tmp_path / "dist"
    wheel = make_wheel(dists, "teamlib", "1.0", files={"teamlib/__init__.py": "ANSWER = 42\n"})
    sdist = make_sdist(dists, "teamlib", "1.0")
    done = _twine(server, token, wheel, sdist)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.rows() == 1 and len(server.objects()) == 4  # 2 files + 2 metadata files

    # Again: refused (never replaced), and twine shows why.
    again = _twine(server, token, wheel)
    assert again.returncode != 0
    assert "409" in again.stdout + again.stderr and "already exists" in again.stdout + again.stderr
    # A read token may not upload.
    reader = _twine(server, server.token("reader", "read"), make_wheel(tmp_path, "teamlib", "2.0"))
    assert reader.returncode != 0 and "403" in reader.stdout + reader.stderr

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"teamlib==1.0 --hash=sha256:{digest}\n")
    index = server.url.replace("http://", f"http://__token__:{token}@") + "/team/simple/"
    target = tmp_path / "target"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--require-hashes", "--only-binary",
         ":all:", "--no-cache-dir", "--disable-pip-version-check", "--target", str(target),
         "--index-url", index, "-r", str(requirements)],
        capture_output=True, text=True, timeout=120, check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / "teamlib" / "__init__.py").read_text() == "ANSWER = 42\n"

    # A wrong hash is caught by pip against what the server lists and serves.
    requirements.write_text(f"teamlib==1.0 --hash=sha256:{'0' * 64}\n")
    wrong = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--require-hashes", "--only-binary",
         ":all:", "--no-cache-dir", "--disable-pip-version-check", "--target",
         str(tmp_path / "t2"), "--index-url", index, "-r", str(requirements)],
        capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in wrong.stderr
