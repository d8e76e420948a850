"""``moderation serve`` and ``moderation worker``: the processes that run the service."""

from __future__ import annotations

import click

from moderation.cli import State, pass_state


@click.command()
@click.option("--host", default=None, help="address to bind (default [server] host)")
@click.option("--port", type=int, default=None, help="port (default [server] port)")
@click.option(
    "--workers", type=int, default=None, help="worker processes (default [server] workers)"
)
@pass_state
def serve(state: State, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the app with Granian (a production WSGI server)."""
    from moderation.runtime.server import PortInUse, run

    try:
        run(state.settings, host=host, port=port, workers=workers, config_path=state.path)
    except PortInUse as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option(
    "--threads",
    type=int,
    default=1,
    help="threads of the general job queue (routing, sweeps); each kind of job has its own "
    "threads besides: [jobs] mail_threads, akismet_threads, fetch_threads",
)
@pass_state
def worker(state: State, threads: int) -> None:
    """Run the background-job consumer (Akismet re-checks and feedback, mail, linkback
    verification, purges)."""
    from moderation.runtime import metrics
    from moderation.runtime.jobs import Jobs
    from moderation.runtime.logs import configure_logging
    from moderation.runtime.process import limit_malloc_arenas
    from moderation.services import build_context

    configure_logging(state.settings.server.log_level)
    limit_malloc_arenas()
    if metrics.multiprocess_directory() is None:  # started on its own, not by `moderation serve`
        metrics.use_directory(metrics.directory(state.settings.data_path), clear=False)
    jobs = Jobs(state.settings, state.database(), build_context(state.settings))
    # Whatever was due when the last worker stopped (or was never queued) is queued again now.
    jobs.sweep()
    jobs.run_consumers(general_threads=threads)
