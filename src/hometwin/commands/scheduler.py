"""`hometwin scheduler`: run the durable event scheduler under uvicorn."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def scheduler(
        host: str = typer.Option(
            None, help="Address to listen on (env HOMETWIN_SCHEDULER_HOST, default 127.0.0.1)."),
        port: int = typer.Option(None, help="Port (env HOMETWIN_SCHEDULER_PORT, default 9000)."),
        state: str = typer.Option(
            None, help="State database, sqlite:///abs/path.sqlite, or memory:// (lost on exit; tests) "
                       "(env HOMETWIN_SCHEDULER_STATE, default <data_dir>/scheduler.sqlite)."),
    ) -> None:
        """Run the event scheduler (wire-compatible with the course's sif_edge)."""
        import logging
        import os

        import uvicorn

        from hometwin.config import SchedulerSettings
        from hometwin.scheduler.app import create_app
        from hometwin.scheduler.state import scheme_of
        from hometwin.sqlite_url import sqlite_path

        overrides = {k: v for k, v in {"scheduler_host": host, "scheduler_port": port,
                                       "scheduler_state": state}.items() if v is not None}
        settings = SchedulerSettings(**overrides)  # type: ignore[arg-type]
        logging.basicConfig(level=settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # our own line per state change suffices
        try:
            state_url = settings.state_url()
            if scheme_of(state_url) == "sqlite":  # a clear error now, not a traceback from the lifespan
                state_dir = sqlite_path(state_url, "state").parent
                state_dir.mkdir(parents=True, exist_ok=True)
                if not os.access(state_dir, os.W_OK):
                    raise PermissionError(f"state directory {state_dir} is not writable")
            app = create_app(settings)
        except (ValueError, OSError) as exc:
            typer.echo(f"hometwin scheduler: {exc}", err=True)
            raise typer.Exit(2) from None
        loop, http = _io_stack(settings.scheduler_fast_io)
        uvicorn.run(app, host=settings.scheduler_host, port=settings.scheduler_port,
                    log_level=settings.log_level.lower(), access_log=False, loop=loop, http=http)


def _io_stack(fast: bool) -> tuple[str, str]:
    """uvloop and httptools when wanted and importable (the scheduler is CPU-bound: they cut its
    CPU per event by about a quarter, docs/scheduler.md), else asyncio and h11."""
    import importlib.util

    if not fast:
        return "asyncio", "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http
