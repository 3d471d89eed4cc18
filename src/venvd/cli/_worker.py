"""`venvd worker`: a build worker taking build jobs (environment ids) from the queue (`queue_url`)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import click

from venvd.cli._options import (
    apply_build_flags,
    apply_queue_options,
    build_flags,
    build_settings,
    check_fleet_extras,
    index_options,
    queue_options,
)


@click.command()
@click.option(
    "--data-dir",
    envvar="VENVD_DATA_DIR",
    type=click.Path(path_type=Path),
    help="Data directory: caches and artifacts of this worker (env VENVD_DATA_DIR).",
)
@click.option(
    "--database-url",
    envvar="VENVD_DATABASE_URL",
    metavar="URL",
    help="postgresql+psycopg://... the store shared with the API nodes (env VENVD_DATABASE_URL).",
)
@queue_options
@index_options
@build_flags
@click.option("--metrics-port", type=click.IntRange(1, 65535), envvar="VENVD_WORKER_METRICS_PORT",
              help="Serve this worker's Prometheus metrics (builds it ran: started, finished by "
                   "outcome, durations) on this port (env VENVD_WORKER_METRICS_PORT).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address of the metrics endpoint.")
@click.option("--log-level", default="info", show_default=True)
def worker(
    data_dir: Path | None,
    database_url: str | None,
    queue_url: str | None,
    queue_name: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    no_build: bool,
    build_workers: int | None,
    unsafe_builds: bool,
    metrics_port: int | None,
    metrics_host: str,
    log_level: str,
) -> None:
    """Run a build worker: take build jobs from the queue and build them (Ctrl-C: stop after the
    running builds)."""
    from venvd.service import Service

    settings = build_settings(data_dir, database_url, index_url, extra_index_url, find_links)
    apply_queue_options(settings, queue_url, queue_name)
    apply_build_flags(settings, no_build, build_workers, unsafe_builds)
    if not settings.queue_url:
        raise click.UsageError("a worker needs a queue: give --queue-url or set VENVD_QUEUE_URL")
    check_fleet_extras(settings)
    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s %(levelname)s [venvd worker {os.getpid()}] %(name)s: %(message)s",
    )
    from venvd.queue import BuildQueue

    if metrics_port is not None:
        # Builds run here, not on the API nodes: their counters and durations are this process's.
        from prometheus_client import start_http_server

        from venvd.service import _metrics

        _metrics.enable()
        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as exc:
            raise click.UsageError(f"cannot serve metrics on {metrics_host}:{metrics_port}: "
                                   f"{exc.strerror}") from None
    service = Service.open(settings, relay=False)
    queue = BuildQueue(settings.queue_url, settings.queue_name)
    click.echo(
        f"venvd: worker {os.getpid()} taking jobs from queue {settings.queue_name!r} "
        f"({settings.build_workers} at once; data: {settings.data_dir}, "
        f"store: {settings.resolved_database_url.split('://')[0]}"
        + (f"; metrics: http://{metrics_host}:{metrics_port}/metrics" if metrics_port else "")
        + ")",
        err=True,
    )
    try:
        queue.run_worker(
            service.environments.run_job,
            concurrency=settings.build_workers,
            loglevel=log_level,
            hostname=f"venvd-{os.getpid()}@{socket.gethostname()}",
        )
    finally:
        queue.close()
        service.close()
