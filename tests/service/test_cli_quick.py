"""The quick path of `venvd resolve -r FILE --server URL` (`venvd.cli._quick`) against a real
`venvd serve` and a real local index: on success it answers exactly as the full (click) command
does, without importing click; anything else is the full command's, with its usual errors."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.test_cli import server  # noqa: F401 - the real `venvd serve` fixture
from venvd.cli._quick import _requirements, _uncommented, answer
from venvd.inputs._requirements import _COMMENT

TARGET = ["--python", "2.7.6", "--platform", "linux_x86_64"]
# Runs venvd.cli.main in a child; reports on stderr whether click was loaded (the full path).
_CHILD = ("import sys\nfrom venvd.cli import main\n"
          "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
          "print('click loaded:', 'click' in sys.modules, file=sys.stderr)\n"
          "sys.exit(code)\n")


def venvd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENVD_")}
    env["VENVD_DATA_DIR"] = str(cwd / "client-data")
    return subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def _without_timings(text: str) -> str:
    """The lock, without what tells one answer from another (the second is a cache hit)."""
    data = json.loads(text)
    for key in ("timings", "cached", "stats"):
        data.pop(key, None)
    return json.dumps(data, sort_keys=True)


def test_a_plain_file_is_answered_without_click_as_the_full_command_answers(
        server: str, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "reqs.txt").write_text("# the app\napp   # pinned below\n\n  lib>=1\napp\n")
    quick = venvd("resolve", "-r", "reqs.txt", *TARGET, "--server", server, cwd=tmp_path)
    assert quick.returncode == 0, quick.stderr
    assert "click loaded: False" in quick.stderr
    pins = {p["name"]: p["version"] for p in json.loads(quick.stdout)["packages"]}
    assert pins == {"app": "1.0", "lib": "1.0", "legacy": "1.0"}
    # `--server=URL` is a shape the quick path leaves to click.
    full = venvd("resolve", "-r", "reqs.txt", *TARGET, f"--server={server}", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    assert "click loaded: True" in full.stderr
    assert _without_timings(quick.stdout) == _without_timings(full.stdout)
    assert quick.stdout.endswith("}\n") and quick.stdout.startswith("{\n  ")


def test_output_file_and_formats_match_the_full_command(server: str, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "reqs.in").write_text("app\n")
    for fmt in ("requirements", "pylock"):
        quick = venvd("resolve", "-r", "reqs.in", *TARGET, "--server", server, "--format", fmt,
                      "-o", f"quick.{fmt}", cwd=tmp_path)
        full = venvd("resolve", "-r", "reqs.in", *TARGET, "--server", server, "--format", fmt,
                     f"--output=full.{fmt}", cwd=tmp_path)
        assert quick.returncode == 0 and full.returncode == 0, quick.stderr + full.stderr
        assert "click loaded: False" in quick.stderr and "click loaded: True" in full.stderr
        assert quick.stderr.splitlines()[0] == f"venvd: resolved; wrote quick.{fmt}"
        quick_text = (tmp_path / f"quick.{fmt}").read_text()
        assert "app==1.0" in quick_text or 'name = "app"' in quick_text
        assert quick_text == (tmp_path / f"full.{fmt}").read_text()
    json_out = venvd("resolve", "-r", "reqs.in", *TARGET, "--server", server, "-o", "lock.json",
                     cwd=tmp_path)
    assert json_out.returncode == 0, json_out.stderr
    assert re.fullmatch(r"venvd: 3 packages pinned( \(cached\))?; wrote lock\.json",
                        json_out.stderr.splitlines()[0])


@pytest.mark.parametrize("lines", ["app>>1\n", "left\nright\n", "nowhere-to-be-found\n"])
def test_failures_are_reported_by_the_full_command(server: str, tmp_path: Path,  # noqa: F811
                                                   lines: str) -> None:
    (tmp_path / "reqs.txt").write_text(lines)
    quick = venvd("resolve", "-r", "reqs.txt", *TARGET, "--server", server, cwd=tmp_path)
    full = venvd("resolve", "-r", "reqs.txt", *TARGET, f"--server={server}", cwd=tmp_path)
    assert quick.returncode == full.returncode != 0
    assert quick.stderr == full.stderr
    assert "Traceback" not in quick.stderr and "click loaded: True" in quick.stderr


def test_an_unreachable_server_is_reported_by_the_full_command(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    (tmp_path / "reqs.txt").write_text("app\n")
    out = venvd("resolve", "-r", "reqs.txt", *TARGET, "--server", url, cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert url in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("argv", [
    ["resolve", "--help"],
    ["resolve", "-r", "reqs.txt", "--python", "3.11"],  # no server: in-process
    ["resolve", "-r", "reqs.txt", "--server", "URL"],  # no target: this interpreter's
    ["resolve", "app", "--python", "3.11", "--server", "URL"],  # a requirement argument
    ["resolve", "-r", "reqs.txt", "--python", "3.11", "--server", "URL", "--pre"],
    ["resolve", "-r", "reqs.txt", "--python", "3.11", "--server", ""],
    ["resolve", "-r", "reqs.txt", "--python", "3.11", "--python", "3.12", "--server", "URL"],
    ["resolve", "-r", "reqs.txt", "--python", "3.11", "--server", "URL", "--format", "toml"],
    ["resolve", "-r", "reqs.toml", "--python", "3.11", "--server", "URL"],
    ["resolve", "-r", "env.yml", "--python", "3.11", "--server", "URL"],
    ["create", "-r", "reqs.txt", "--python", "3.11", "--server", "URL"],
])
def test_other_shapes_are_left_to_click(argv: list[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VENVD_SERVER", raising=False)
    for name in ("reqs.txt", "reqs.toml", "env.yml"):
        (tmp_path / name).write_text("app\n")
    # Port 9 (discard) refuses: had one of these been posted, the answer would be False too,
    # but later; the shapes are checked before anything is read or sent.
    assert answer([a.replace("URL", "http://127.0.0.1:9") for a in argv]) is False


@pytest.mark.parametrize("line", [
    "-r other.txt", "--index-url https://example.org/simple", "app @ https://example.org/app.whl",
    "./local/dir", "app --hash=sha256:00", "app==${VERSION}", "app>=1 \\", "name: env",
    "[project]", "lock-version = '1.0'", "dependencies:", "C:\\path\\app.whl",
])
def test_lines_that_are_not_plain_requirements_are_left_to_the_reader(line: str,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "reqs.txt"
    path.write_text(f"app\n{line}\n")
    assert _requirements([str(path)]) is None


def test_plain_lines_are_kept_as_the_reader_keeps_them(tmp_path: Path) -> None:
    from venvd.inputs import read_requirements_file

    text = ('requests >= 2.7   # web\n\n  # only a comment\nFoo_Bar[x]  ;  python_version>"3"\n'
            'requests >= 2.7\nzope.interface~=5.0\ncffi; os_name == "nt"  #\tnt only\n')
    path = tmp_path / "reqs.txt"
    path.write_text(text)
    assert _requirements([str(path)]) == read_requirements_file(path).requirements


@pytest.mark.parametrize("line", ["a # b", "a#b", "# a", "  # a", "a\t#b", "a  ## b # c", "a",
                                  "", "#", "a #", "a;b=='#' # c"])
def test_comments_are_removed_as_the_reader_removes_them(line: str) -> None:
    assert _uncommented(line).strip() == _COMMENT.sub("", line).strip()
    assert re.sub(r"\s+$", "", _uncommented(line)) == re.sub(r"\s+$", "", _COMMENT.sub("", line))


def _answer_once(reply: bytes, keep_open: float = 0.0) -> str:
    """A one-shot server on a real socket: reads the request, sends `reply`, then keeps the
    connection open for `keep_open` seconds before closing it. Returns its URL."""
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(reply)
            time.sleep(keep_open)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_the_answer_is_read_by_its_length_even_on_a_connection_left_open() -> None:
    import time

    from venvd.cli._quick import post_plain

    url = _answer_once(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 2\r\n\r\n{}", keep_open=20)
    started = time.monotonic()
    assert post_plain(url, "/v1/resolve", {"requirements": ["a"]}) == b"{}"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # closed before the end
    b"HTTP/1.1 200 OK\r\n\r\n{}",  # no length
    b"garbage",
])
def test_anything_but_a_plain_success_is_handed_back(reply: bytes) -> None:
    from venvd.cli._quick import post_plain

    assert post_plain(_answer_once(reply), "/v1/resolve", {}, timeout=5) is None
