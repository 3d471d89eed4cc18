"""What a `venvd create --server URL` loads: a real command against a real server, in a child
that reports its `sys.modules` when the command ends. Modules the command never uses stay out
of its start-up (see the README's "Environments" benchmark, the floor row)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.service.test_cli import server  # noqa: F401 - the real `venvd serve` fixture

# Runs venvd.cli.main in a child, then prints the names of the modules it loaded on stderr.
_CHILD = ("import json, sys\nfrom venvd.cli import main\n"
          "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
          "loaded = sorted(name for name, module in sys.modules.items() if module is not None)\n"
          "print('loaded:', json.dumps(loaded), file=sys.stderr)\n"
          "sys.exit(code)\n")

# Loaded by nothing a create from a requirements file does: the pylock model (a file named
# reqs.txt is no pylock), the target shorthand and request parsers (the target is the
# interpreter's own), the server's layers, httpx's command line, and rich (build progress: the
# environment is ready on the server).
_NOT_LOADED = ("packaging.pylock", "venvd.target._shorthand", "venvd.target._request",
               "venvd.service", "venvd.resolver", "venvd.store", "venvd.index", "sqlalchemy",
               "httpx._main", "rich")


def test_create_from_a_requirements_file_loads_only_what_it_uses(server: str,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("tool\napp\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
    env["VENVD_CLIENT_CACHE_DIR"] = str(tmp_path / "client-cache")
    for dest in (tmp_path / "first", tmp_path / "env"):  # the first builds, the second is warm
        out = subprocess.run([sys.executable, "-c", _CHILD, "create", str(dest), "-r", str(reqs),
                              "--server", server], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr
        assert (dest / "bin" / "tool-hello").exists()
    line = next(line for line in out.stderr.splitlines() if line.startswith("loaded: "))
    loaded = set(json.loads(line[len("loaded: "):]))
    # The command did its work with the modules it needs (the check can see them).
    assert {"click", "httpx", "venvd.materialize", "venvd.target._interpreter"} <= loaded
    assert not any(name in loaded for name in _NOT_LOADED), sorted(
        name for name in loaded if name.startswith(_NOT_LOADED))
