"""Options shared by several commands: target, server/data dir, index configuration, requirement input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from venvd.errors import InputError, InvalidTarget

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _remember_token(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Not a parameter of the commands: `connect_client` finds it in the context.
    ctx.meta["venvd.token"] = value


server_options = _stack(
    click.option(
        "--server",
        envvar="VENVD_SERVER",
        metavar="URL",
        help="venvd server to ask (env VENVD_SERVER); without it, run in-process.",
    ),
    click.option(
        "--token",
        envvar="VENVD_TOKEN",
        metavar="TOKEN",
        expose_value=False,
        callback=_remember_token,
        help="Bearer token for the server (env VENVD_TOKEN); unused in-process.",
    ),
    click.option(
        "--data-dir",
        envvar="VENVD_DATA_DIR",
        type=click.Path(path_type=Path),
        help="Data directory of the in-process service (env VENVD_DATA_DIR).",
    ),
    click.option(
        "--database-url",
        envvar="VENVD_DATABASE_URL",
        metavar="URL",
        help="Database of the in-process service (default: SQLite in the data dir).",
    ),
)

index_options = _stack(
    click.option("--index-url", "-i", metavar="URL", help="Base URL of the primary index."),
    click.option(
        "--extra-index-url",
        multiple=True,
        metavar="URL",
        help="More indexes; a project is taken from the first index that has it.",
    ),
    click.option(
        "--find-links",
        "-f",
        multiple=True,
        metavar="URL|DIR",
        help="Extra places to look for files (directories or link pages).",
    ),
)

requirement_options = _stack(
    click.argument("requirements", nargs=-1),
    click.option(
        "-r",
        "--requirement",
        "requirement_files",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Read requirements from FILE: a requirements file, environment.yml, pyproject.toml "
             "or pylock.toml (the kind found from its name and content).",
    ),
    click.option(
        "-c",
        "--constraint",
        "constraint_files",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Constrain versions with FILE.",
    ),
)

# -- input documents (venvd.inputs): how the -r files are read ---------------------------------
document_options = _stack(
    click.option(
        "--file-type",
        type=click.Choice(["requirements.txt", "environment.yml", "pyproject.toml", "pylock.toml"]),
        help="Read every -r FILE as this kind instead of finding it from its name and content.",
    ),
    click.option("--extra", "extras", multiple=True, metavar="NAME",
                 help="pyproject.toml / pylock.toml: include this optional-dependencies extra."),
    click.option("--all-extras", is_flag=True,
                 help="pyproject.toml / pylock.toml: include every extra."),
    click.option("--group", "groups", multiple=True, metavar="NAME",
                 help="pyproject.toml / pylock.toml: include this dependency group (PEP 735)."),
    click.option("--skip-conda-packages", is_flag=True,
                 help="environment.yml: leave out conda packages other than python and pip "
                      "(with a warning) instead of refusing the file."),
)


# The client's cache of unpacked fragments (`venvd create` and `venvd cache`).
cache_dir_option = click.option(
    "--cache-dir",
    envvar="VENVD_CLIENT_CACHE_DIR",
    type=click.Path(path_type=Path),
    help="The client cache directory (env VENVD_CLIENT_CACHE_DIR; default: the user cache dir).",
)

cache_options = _stack(
    cache_dir_option,
    click.option(
        "--no-cache",
        is_flag=True,
        envvar="VENVD_NO_CACHE",
        help="Neither read nor fill the client cache: unpack the fragments into DEST.",
    ),
    click.option(
        "--link-mode",
        type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
        default="auto",
        envvar="VENVD_LINK_MODE",
        show_default=True,
        help="How cached files get into DEST (env VENVD_LINK_MODE): auto = reflink where the "
        "filesystem can, else hardlink; with hardlink, editing an installed file in place edits "
        "the cache (it is then fetched again); copy for environments you edit.",
    ),
)


def file_cache(cache_dir: Path | None) -> Any:
    """The client cache at `cache_dir`, else the default (VENVD_CLIENT_CACHE_DIR or the user cache dir)."""
    from venvd.materialize import FileCache

    cache = FileCache.default()
    if cache_dir is not None:
        cache = FileCache(cache_dir, cache.max_size)
    return cache


# What `serve` and `worker` share about building: the flags, and how they override the settings.
build_flags = _stack(
    click.option("--no-build", is_flag=True, help="Never build wheels from sdists."),
    click.option("--build-workers", type=int, default=None,
                 help="Concurrent environment builds of this process (env VENVD_BUILD_WORKERS)."),
    click.option(
        "--unsafe-builds",
        is_flag=True,
        envvar="VENVD_UNSAFE_BUILDS",
        help="Build sdists without a sandbox when bubblewrap is missing (env VENVD_UNSAFE_BUILDS).",
    ),
)


def apply_build_flags(settings: Any, no_build: bool, build_workers: int | None,
                      unsafe_builds: bool) -> None:
    """Let the `build_flags` given on the command line override `settings`."""
    if no_build:
        settings.no_build = True
    if build_workers:
        settings.build_workers = build_workers
    if unsafe_builds:
        settings.unsafe_builds = True


def build_settings(
    data_dir: Path | None,
    database_url: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
) -> Any:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from venvd.service import Settings

    values: dict[str, Any] = {}
    if data_dir:
        values["data_dir"] = data_dir
    if database_url:
        values["database_url"] = database_url
    if index_url:
        values["index_url"] = index_url
    if extra_index_url:
        values["extra_index_urls"] = list(extra_index_url)
    if find_links:
        values["find_links"] = [_absolute_link(f) for f in find_links]
    try:
        return Settings(**values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(map(str, problem["loc"]))
        raise InputError(f"setting {field} (VENVD_{field.upper()}): {problem['msg']}",
                         setting=field) from None
    except SettingsError as exc:
        # pydantic-settings: a list or dict setting whose environment value is not JSON.
        raise InputError(f"{exc}: a list setting takes JSON, e.g. '[\"https://...\"]'") from None


def check_fleet_extras(settings: Any) -> None:
    """A queue or an S3 object store needs the `fleet` extra: say so in one line (InputError, exit 2)
    before a server or worker starts, rather than accepting builds that nothing can run."""
    import importlib.util

    needs = []
    if settings.queue_url:
        needs.append(("celery", "VENVD_QUEUE_URL (--queue-url)"))
    if str(settings.object_store or "").startswith("s3://"):
        needs.append(("boto3", "VENVD_OBJECT_STORE=s3://..."))
    for module, setting in needs:
        if importlib.util.find_spec(module) is None:
            raise InputError(
                f"{setting} is set but {module} is not installed: pip install 'venvd[fleet]'",
                setting=setting)


def connect_client(
    server: str | None,
    data_dir: Path | None,
    database_url: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
) -> Any:
    """A client for `server`, or the in-process service configured by the other options."""
    from venvd.client import connect

    if server and (index_url or extra_index_url or find_links):
        raise InputError(
            "index options configure the in-process service; a server "
            "(--server/VENVD_SERVER) resolves with its own indexes"
        )
    if server:
        from venvd.client import HttpClient

        context = click.get_current_context(silent=True)
        token = context.meta.get("venvd.token") if context is not None else None
        return HttpClient(server, token=token or "")
    return connect(None, build_settings(data_dir, database_url, index_url, extra_index_url, find_links))


def _absolute_link(value: str) -> str:
    if "://" in value:
        return value
    return Path(value).resolve().as_uri()


def target_body(python: str | None, platform: str | None, target_file: Path | None) -> Any:
    """The request's target: a complete platform file, shorthands, or this interpreter."""
    if target_file is not None:
        if python or platform:
            raise InputError("--target-file cannot be combined with --python/--platform")
        try:
            return json.loads(target_file.read_text())
        except OSError as exc:
            raise InvalidTarget(f"cannot read target file {target_file}: {exc.strerror}") from None
        except ValueError as exc:
            raise InvalidTarget(f"target file {target_file} is not JSON: {exc}") from None
    if python or platform:
        return {k: v for k, v in (("python", python), ("platform", platform)) if v}
    from venvd.target import Target

    return Target.current().to_json()


# The build-job queue, for `serve` (which enqueues) and `worker` (which consumes).
queue_options = _stack(
    click.option("--queue-url", envvar="VENVD_QUEUE_URL", metavar="URL",
                 help="The broker of build jobs, e.g. amqp://guest:guest@127.0.0.1:5672// "
                      "(env VENVD_QUEUE_URL); without it, `serve` builds in-process."),
    click.option("--queue-name", envvar="VENVD_QUEUE_NAME",
                 help="The queue of build jobs (env VENVD_QUEUE_NAME)."),
)


def apply_queue_options(settings: Any, queue_url: str | None, queue_name: str | None) -> None:
    """Let the `queue_options` given on the command line override `settings`."""
    if queue_url:
        settings.queue_url = queue_url
    if queue_name:
        settings.queue_name = queue_name
