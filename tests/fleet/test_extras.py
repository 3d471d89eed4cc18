"""A queue or an S3 object store without the `fleet` extra: one readable line before anything starts
(never a server that accepts builds nothing can run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from venvd.cli import main


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Any:
    """(A serve that got past the check would fail on its port, 70000, rather than serve.)
    Make `find_spec` report these modules as not installed (as in an install without the extra)."""
    real = importlib.util.find_spec

    def hide(*modules: str) -> None:
        def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
            return None if name in modules else real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return hide


@pytest.mark.parametrize(
    ("command", "env", "missing"),
    [
        (["serve", "--port", "70000"], {"VENVD_QUEUE_URL": "amqp://guest:guest@127.0.0.1:5672//"}, "celery"),
        (["worker", "--queue-url", "amqp://guest:guest@127.0.0.1:5672//"], {}, "celery"),
        (["serve", "--port", "70000"], {"VENVD_OBJECT_STORE": "s3://bucket/prefix"}, "boto3"),
        (["gc", "--dry-run"], {"VENVD_OBJECT_STORE": "s3://bucket/prefix"}, "boto3"),
    ],
)
def test_fleet_settings_without_the_extra_fail_in_one_line(
    command: list[str], env: dict[str, str], missing: str, without: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    without(missing)
    with pytest.raises(SystemExit) as exited:
        main([*command, "--data-dir", str(tmp_path / "data")])
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and missing in lines[0] and "venvd[fleet]" in lines[0], lines
