"""`venvd create` (one round trip to a usable venv) and `venvd export` (an artifact as is)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import (
    cache_options,
    connect_client,
    file_cache,
    index_options,
    requirement_options,
    server_options,
)
from venvd.errors import BuildError, IncompatibleInterpreter, InputError, InvalidTarget, VenvdError

_DESCRIBE = r"""
import json, sys
from packaging.markers import default_environment
from packaging.tags import sys_tags
print(json.dumps({"marker_environment": default_environment(),
                  "compatible_tags": [str(t) for t in sys_tags()]}))
"""


def resolve_interpreter(python: str) -> str:
    """The real executable behind `python` (a path, a name on PATH, or a shim such as pyenv's)."""
    found = shutil.which(python) or python
    try:
        out = subprocess.run(
            # Python 2 syntax too: a 2.7 interpreter must get a clear answer, not a SyntaxError.
            [found, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:
        raise InputError(f"cannot run interpreter {python}: {exc.strerror}") from None
    if out.returncode != 0 or not out.stdout.strip():
        # The first line says why a trivial script could not run (a shim's or loader's complaint).
        first = (out.stderr.strip().splitlines() or ["no output"])[0]
        raise InputError(f"cannot run interpreter {python}: {first}")
    executable, _, version = out.stdout.strip().partition("\n")
    major, _, minor = version.strip().partition(".")
    if (int(major), int(minor)) < (3, 8):
        raise IncompatibleInterpreter(
            f"{python} is Python {version.strip()}: venvd create needs Python 3.8 or newer to run the "
            f"environment (for older targets, `venvd resolve --python {version.strip()}` gives the lock)"
        )
    return executable.strip()


def describe_interpreter(python: str) -> dict[str, Any]:
    """The complete platform of `python` (the running one, or another found by path)."""
    if Path(python).resolve() == Path(sys.executable).resolve():
        from venvd.target import Target

        return Target.current().to_json()
    import packaging

    env = {**os.environ, "PYTHONPATH": str(Path(packaging.__file__).parent.parent)}
    try:
        # Our own `packaging` on PYTHONPATH: the interpreter need not have it installed.
        out = subprocess.run([python, "-c", _DESCRIBE], env=env, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise InputError(f"cannot run interpreter {python}: {exc.strerror}") from None
    if out.returncode != 0:
        raise InvalidTarget(
            f"cannot describe interpreter {python}: {(out.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _raise_failure(doc: dict[str, Any]) -> None:
    error = doc.get("error") or {}
    details = error.get("details") or {}
    raise BuildError(
        error.get("message") or "the environment build failed",
        package=details.get("package"),
        step=details.get("step"),
        log_tail=details.get("log_tail"),
    )


def follow_build(client: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """Show build progress until the environment is ready; its final status document."""
    if doc["status"] == "ready":
        return doc
    if doc["status"] == "failed":
        _raise_failure(doc)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
        console=_stderr_console(),
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("Building", total=None)
        for event in client.events(doc["id"]):
            progress = event.get("progress") or {}
            step = progress.get("step") or event["status"]
            package = progress.get("package")
            bar.update(
                task,
                description=f"Building: {step}" + (f" {package}" if package else ""),
                completed=progress.get("done") or 0,
                total=progress.get("total") or None,
            )
            if event["status"] in ("ready", "failed"):
                break
    final: dict[str, Any] = client.environment(doc["id"])
    if final["status"] != "ready":
        _raise_failure(final)
    return final


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def download(client: Any, env_id: str, dest: Path) -> dict[str, Any]:
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        *Progress.get_default_columns(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        console=_stderr_console(),
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("Downloading", total=None)
        result: dict[str, Any] = client.download(
            env_id,
            dest,
            progress=lambda done, total: bar.update(task, completed=done, total=total or None),
        )
    return result


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@requirement_options
@click.option(
    "--python",
    "python",
    default=sys.executable,
    show_default="this interpreter",
    help="Interpreter that will run the venv; the target is described from it.",
)
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(path_type=Path),
    help="Build exactly this JSON lock instead of resolving.",
)
@click.option("--force", is_flag=True, help="Replace DEST if it exists and is not empty.")
@click.option("--no-verify", is_flag=True, help="Skip the import and dependency checks.")
@cache_options
@index_options
@server_options
def create(
    dest: Path,
    requirements: tuple[str, ...],
    requirement_files: tuple[Path, ...],
    constraint_files: tuple[Path, ...],
    python: str,
    lock_file: Path | None,
    force: bool,
    no_verify: bool,
    cache_dir: Path | None,
    no_cache: bool,
    link_mode: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    server: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Create a ready virtual environment at DEST, built by the server for this platform."""
    from venvd.cli._resolve import gather_requirements
    from venvd.materialize import check_interpreter, materialize

    if dest.exists() and any(dest.iterdir()) and not force:
        raise InputError(f"{dest} exists and is not empty (use --force to replace it)")
    python = resolve_interpreter(python)
    target = describe_interpreter(python)
    check_interpreter(target, python)
    body: dict[str, Any] = {"target": target}
    if lock_file is not None:
        if requirements or requirement_files:
            raise InputError("--lock cannot be combined with requirements")
        try:
            body["lock"] = json.loads(lock_file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read lock {lock_file}: {exc}") from None
    else:
        reqs, constraints, parsed = gather_requirements(requirements, requirement_files, constraint_files)
        if not reqs:
            raise InputError("no requirements given (pass them as arguments, -r FILE or --lock)")
        body.update(requirements=reqs, constraints=constraints, options={"prereleases": parsed.pre})
        index_url = index_url or parsed.index_url
    client = connect_client(server, data_dir, database_url, index_url, extra_index_url, find_links)
    try:
        doc = client.create_environment(body)
        doc = follow_build(client, doc)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Fragments the cache holds are linked, the others read from the artifact by range; an
        # interrupted run keeps what it unpacked in the cache, so the next one resumes there.
        source = client.open_artifact(doc["id"])
        try:
            result = materialize(source, dest, python=python, force=force, verify=not no_verify,
                                 cache=None if no_cache else file_cache(cache_dir),
                                 link_mode=link_mode)
        finally:
            source.close()
    finally:
        client.close()
    count = len((doc.get("lock") or {}).get("packages") or [])
    click.echo(f"venvd: created {dest} ({count} packages, environment {doc['id'][:12]})", err=True)
    _ = result


@click.command()
@click.argument("env_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the archive (tar + zstd).",
)
@server_options
def export(
    env_id: str, output: Path, server: str | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Download the archive of environment ENV_ID as is."""
    client = connect_client(server, data_dir, database_url, None, (), ())
    try:
        doc = client.environment(env_id)
        if doc["status"] != "ready":
            doc = follow_build(client, doc)
        info = download(client, env_id, output)
    except VenvdError:
        raise
    finally:
        client.close()
    click.echo(f"venvd: wrote {output} ({info['size']} bytes, sha256 {info['sha256']})", err=True)


COMMANDS: list[click.Command] = [create, export]
