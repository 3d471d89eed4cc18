"""Run the PEP 517 metadata build of an sdist in a child process (`_metadata_build`), safely.

Contract of `build_metadata`: returns the METADATA bytes the backend produced, or raises
`BuildError` naming the sdist and the step that failed (or was running when the timeout struck),
with the tail of the build log. The child runs in a private temp dir (its HOME and TMPDIR) with an
environment built from an allow-list: no credentials or secrets of this process reach code from the
sdist, and URLs handed to the build-requirement installer have their user:password part removed. On
timeout the child's whole process group (the backend and installer it started) is killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from venvd.errors import BuildError

from ._config import IndexConfig
from ._metadata_build import STEP_MARK

__all__ = ["build_metadata", "clean_environment"]

LOG_TAIL_LINES = 40

# Variables the build may see. Anything else (tokens, keys, database URLs, cloud credentials)
# stays out.
_ALLOWED = frozenset({
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM",
    "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "WINDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT", "UV_NATIVE_TLS",
    "PIP_CACHE_DIR", "UV_CACHE_DIR",
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "CPPFLAGS", "PKG_CONFIG_PATH",
})
# Needed to reach an index from behind a proxy; passed only without embedded credentials.
_PROXIES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                      "http_proxy", "https_proxy", "no_proxy", "all_proxy"})


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def clean_environment(private_dir: Path, config: IndexConfig,
                      source: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a metadata build: allow-listed variables, private HOME/TMPDIR, our indexes."""
    source = os.environ if source is None else source
    env = {k: v for k, v in source.items() if k in _ALLOWED}
    env.update({k: v for k, v in source.items() if k in _PROXIES and "@" not in v})
    tmp = private_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update({
        "HOME": str(private_dir), "USERPROFILE": str(private_dir),
        "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp),
        "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_PROGRESS": "1",
        # The child imports venvd and build from wherever this process found them.
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    })
    indexes = [_strip_userinfo(u) for u in config.index_urls]
    links = [_strip_userinfo(u) for u in config.find_links]
    if indexes:
        env["PIP_INDEX_URL"] = env["UV_INDEX_URL"] = indexes[0]
        if indexes[1:]:
            env["PIP_EXTRA_INDEX_URL"] = env["UV_EXTRA_INDEX_URL"] = " ".join(indexes[1:])
    if links:
        env["PIP_FIND_LINKS"] = " ".join(links)
        env["UV_FIND_LINKS"] = ",".join(links)
    return env


def build_metadata(sdist: Path, *, label: str, config: IndexConfig, timeout: float,
                   work_dir: Path | None) -> bytes:
    """METADATA of `sdist` by a PEP 517 build (see module docstring); `label` names it in errors."""
    private = Path(tempfile.mkdtemp(prefix="venvd-metadata-", dir=work_dir))
    try:
        out_dir = private / "out"
        out_dir.mkdir()
        log_path = private / "build.log"
        command = [sys.executable, "-m", "venvd.index._metadata_build", str(sdist), str(out_dir)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=private, env=clean_environment(private, config),
                start_new_session=os.name == "posix",
            )
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                step, tail = _read_log(log_path)
                raise BuildError(
                    f"metadata build of {label} timed out after {timeout:g}s during {step}",
                    package=label, step=step, log_tail=tail) from None
        step, tail = _read_log(log_path)
        metadata = out_dir / "METADATA"
        if code != 0 or not metadata.is_file():
            raise BuildError(f"metadata build of {label} failed during {step} (exit {code})",
                             package=label, step=step, log_tail=tail)
        return metadata.read_bytes()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def _read_log(path: Path) -> tuple[str, str]:
    """(last announced step, last lines of the log without step marks)."""
    step, lines = "start", []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if line.startswith(STEP_MARK):
            step = line[len(STEP_MARK):].strip()
        else:
            lines.append(line)
    return step, "\n".join(lines[-LOG_TAIL_LINES:])
