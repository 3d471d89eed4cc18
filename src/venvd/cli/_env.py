"""`venvd create` (one round trip to a usable venv) and `venvd export` (an artifact as is)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from venvd.cli._options import (
    cache_options,
    connect_client,
    document_options,
    file_cache,
    index_options,
    requirement_options,
    server_options,
)
from venvd.errors import BuildError, InputError


def describe_interpreter(python: str) -> dict[str, Any]:
    """The complete platform of `python` (a path or a name on PATH), from its one probe."""
    from venvd.target import probe_interpreter

    return probe_interpreter(python).target_json()


# What `uv venv --seed` installs (uv 0.13: pip; setuptools and wheel too below Python 3.12).
_SEED = ("pip",)
_SEED_BEFORE_312 = ("setuptools", "wheel")


def seed_requirements(version: tuple[int, ...]) -> list[str]:
    """The roots `--seed` adds for an interpreter of `version`, as `uv venv --seed` does.

    Seeding is a request for more roots, resolved and built by the server like any others,
    rather than an ``ensurepip`` run in the client: the seed packages are then pinned in the
    lock (and in DEST/venvd.lock.json), checked by the verification, built once and shared by
    every client through the caches, installed with no index access from the client, and in the
    versions the index has now rather than those bundled with the interpreter. A seeded
    environment is therefore a different environment (another id) from the unseeded one.
    """
    return [*_SEED, *(_SEED_BEFORE_312 if tuple(version[:2]) < (3, 12) else ())]


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
@document_options
@click.option(
    "--python",
    "python",
    default=sys.executable,
    show_default="this interpreter, or pythonX.Y on PATH for an environment.yml's python=X.Y",
    help="Interpreter that will run the venv; the target is described from it.",
)
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(path_type=Path),
    help="Build exactly this lock (venvd's JSON lock, or a PEP 751 pylock.toml) instead of resolving.",
)
@click.option("--force", is_flag=True, help="Replace DEST if it exists and is not empty.")
@click.option("--seed", is_flag=True,
              help="Install pip into the venv (with setuptools and wheel below Python 3.12), "
                   "as `uv venv --seed` does.")
@click.option("--no-verify", is_flag=True, help="Skip the import and dependency checks.")
@click.option("--test-import", "test_imports", multiple=True, metavar="MODULE",
              help="A module the server imports in the built environment (repeatable); a failure "
                   "fails the environment. Run only when the server has this platform.")
@click.option("--test-command", "test_commands", multiple=True, metavar="CMD",
              help="A shell command the server runs in the built environment (repeatable), "
                   "after the imports.")
@cache_options
@index_options
@server_options
def create(
    dest: Path,
    requirements: tuple[str, ...],
    requirement_files: tuple[Path, ...],
    constraint_files: tuple[Path, ...],
    file_type: str | None,
    extras: tuple[str, ...],
    all_extras: bool,
    groups: tuple[str, ...],
    skip_conda_packages: bool,
    python: str,
    lock_file: Path | None,
    force: bool,
    seed: bool,
    no_verify: bool,
    test_imports: tuple[str, ...],
    test_commands: tuple[str, ...],
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
    from venvd.cli._documents import gather_document, naming_the_line
    from venvd.inputs import check_python
    from venvd.materialize import materialize
    from venvd.target import probe_interpreter

    if dest.exists() and any(dest.iterdir()) and not force:
        raise InputError(f"{dest} exists and is not empty (use --force to replace it)")
    if lock_file is not None:
        if requirements or requirement_files:
            raise InputError("--lock cannot be combined with requirements")
        document = _lock_document(lock_file)
    else:
        document = gather_document(requirements, requirement_files, constraint_files,
                                   file_type=file_type, extras=extras, all_extras=all_extras,
                                   groups=groups, skip_conda_packages=skip_conda_packages)
        if document.lock is None and not document.requirements:
            raise InputError("no requirements given (pass them as arguments, -r FILE or --lock)")
    context = click.get_current_context()
    if document is not None and document.python and \
            context.get_parameter_source("python") == click.core.ParameterSource.DEFAULT:
        python = _python_for(document.python, document.python_origin_text())
    # The command's one probe: the target, and (remembered) materialize's interpreter check.
    interpreter = probe_interpreter(python)
    target = interpreter.target_json()
    body: dict[str, Any] = {"target": target}
    if test_imports or test_commands:
        body["tests"] = {"imports": list(test_imports), "commands": list(test_commands)}
    seeds = seed_requirements(interpreter.version) if seed else []
    if document is not None:
        check_python(document, target["marker_environment"]["python_full_version"],
                     where=f"the interpreter {python}")
    if document is not None and document.lock is not None:
        from venvd.inputs import pylock_to_lock
        from venvd.target import Target

        body["lock"] = pylock_to_lock(document, Target.from_json(target), extras=extras,
                                      all_extras=all_extras, groups=groups or None,
                                      text=_text(document.file))
        _check_seeded_lock(body["lock"], seeds, Path(document.file))
    elif document is None:
        try:
            body["lock"] = json.loads(lock_file.read_text())  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read lock {lock_file}: {exc}") from None
        _check_seeded_lock(body["lock"], seeds, lock_file)  # type: ignore[arg-type]
    else:
        body.update(requirements=[*document.requirements, *seeds],
                    constraints=document.constraints,
                    options={"prereleases": document.pre, **document.options()})
        index_url = index_url or document.index_url
        extra_index_url = extra_index_url + tuple(document.extra_index_urls)
        find_links = find_links + tuple(document.find_links)
    client = connect_client(server, data_dir, database_url, index_url, extra_index_url, find_links)
    try:
        with naming_the_line(document):
            if document is not None and document.hash_checking:
                body = _hash_checked(client, body, document)
            doc = client.create_environment(body)
        doc = follow_build(client, doc)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Fragments the cache holds are linked, the others read from the artifact by range; an
        # interrupted run keeps what it unpacked in the cache, so the next one resumes there.
        source = client.open_artifact(doc["id"])
        try:
            result = materialize(source, dest, python=interpreter.executable, force=force,
                                 verify=not no_verify,
                                 cache=None if no_cache else file_cache(cache_dir),
                                 link_mode=link_mode)
        finally:
            source.close()
    finally:
        client.close()
    count = len((doc.get("lock") or {}).get("packages") or [])
    label = f"'{document.label}' " if document is not None and document.label else ""
    click.echo(f"venvd: created {label}{dest} ({count} packages, environment {doc['id']})",
               err=True)
    _ = result


def _lock_document(lock_file: Path) -> Any:
    """A pylock.toml given to --lock as its Document; None for a JSON lock (read as is)."""
    from venvd.inputs import detect_kind, read_document

    if lock_file.suffix == ".json":
        return None
    try:
        text = lock_file.read_text()
    except OSError as exc:
        raise InputError(f"cannot read lock {lock_file}: {exc.strerror}") from None
    if text.lstrip().startswith("{") or detect_kind(str(lock_file), text) != "pylock.toml":
        return None
    return read_document(lock_file, kind="pylock.toml")


def _text(file: str) -> str:
    try:
        return Path(file).read_text()
    except OSError:
        return ""


def _python_for(version: str, origin: str) -> str:
    """The interpreter for a document's `python=X.Y[.Z]`: pythonX.Y on PATH."""
    short = ".".join(version.split(".")[:2])
    found = shutil.which(f"python{short}")
    if found is None:
        raise InputError(f"{origin} asks for Python {version}, and there is no python{short} on "
                         "PATH: pass --python with an interpreter of that version")
    return found


def _hash_checked(client: Any, body: dict[str, Any], document: Any) -> dict[str, Any]:
    """pip's hash-checking mode: resolve, keep only the files the --hash pins allow, and build
    exactly that lock."""
    from venvd.inputs import restrict_to_hashes

    resolved = client.resolve({k: body[k] for k in ("requirements", "constraints", "options",
                                                    "target")}, "json")
    return {"target": body["target"], "lock": restrict_to_hashes(resolved, document)}


def _check_seeded_lock(lock: Any, seeds: list[str], lock_file: Path) -> None:
    """`--seed` with `--lock`: the lock is built as is, so it must already hold the seeds."""
    if not seeds:
        return
    from packaging.utils import canonicalize_name

    packages = lock.get("packages") if isinstance(lock, dict) else None
    names = {canonicalize_name(str(p.get("name", ""))) for p in packages or [] if isinstance(p, dict)}
    missing = [name for name in seeds if canonicalize_name(name) not in names]
    if missing:
        raise InputError(f"--seed: the lock {lock_file} lacks {', '.join(missing)} (a lock is built "
                         "as is: resolve it with them, or leave out --seed)", missing=missing)



COMMANDS: list[click.Command] = [create]
