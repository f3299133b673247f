"""`hometwin ingest`: the live MQTT ingest in the foreground (the `ingest` component runs the same
with HTTP health and metrics routes); `--propose-mapping` drafts a mapping from Zigbee2MQTT."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from hometwin.config import IngestSettings
    from hometwin.services.ingest import IngestService


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def ingest(
    mapping: Path | None = typer.Option(None, "--mapping", "-m", help="Mapping file, YAML or CSV "
                                        "(default: HOMETWIN_INGEST_MAPPING)."),
    url: str | None = typer.Option(None, "--url", help="Broker, mqtt://host:port or mqtts://host:port "
                                   "(default: HOMETWIN_MQTT_URL)."),
    to: str = typer.Option("", "--to", help="Event store URL (default: HOMETWIN_EVENTS)."),
    propose_mapping: bool = typer.Option(False, "--propose-mapping", help="Print a mapping drafted from "
                                         "Zigbee2MQTT's device list (<base>/bridge/devices) and exit."),
    check: bool = typer.Option(False, "--check", help="Validate the settings and the mapping, then exit."),
    status_every: float = typer.Option(60.0, "--status-every", help="Seconds between status lines (0: none)."),
) -> None:
    """Subscribe to an MQTT broker and write sensor events to the store (docs/home-assistant.md)."""
    import logging

    from pydantic import ValidationError

    from hometwin.config import CommonSettings, IngestSettings

    if mapping is not None:
        os.environ["HOMETWIN_INGEST_MAPPING"] = str(mapping)
    if url is not None:
        os.environ["HOMETWIN_MQTT_URL"] = url
    logging.basicConfig(level=CommonSettings().log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = IngestSettings()
    except ValidationError as exc:
        raise _fail(f"invalid configuration: {exc}") from None
    if propose_mapping:
        _propose(settings)
        return
    from hometwin.components.wiring import build_ingest

    try:
        service = build_ingest(settings, events_url=to)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if check:
        typer.echo(f"ok: {len(service.router.mapping)} sensors mapped; subscribing "
                   f"{', '.join(service.subscriber.topics)} at {settings.mqtt_url}")
        return
    _run(service, status_every)


def _propose(settings: IngestSettings) -> None:
    from hometwin.adapters.mqtt_client import fetch_retained
    from hometwin.adapters.mqtt_mapping import MappingError, propose_mapping
    from hometwin.components.wiring import mqtt_options

    topic = f"{settings.mqtt_zigbee2mqtt_base}/bridge/devices"
    try:
        payload = fetch_retained(mqtt_options(settings), topic)
    except (ConnectionError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if payload is None:
        raise _fail(f"no retained message on {topic} within 5 s: is Zigbee2MQTT running with base topic "
                    f"{settings.mqtt_zigbee2mqtt_base!r}?")
    try:
        typer.echo(propose_mapping(payload, settings.mqtt_zigbee2mqtt_base), nl=False)
    except MappingError as exc:
        raise _fail(str(exc)) from None


def _run(service: IngestService, status_every: float) -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    service.start()
    typer.echo(f"ingesting into the store; buffer {service.buffer.path}; Ctrl-C stops", err=True)
    try:
        while not done.wait(status_every or None):
            status = service.status()
            typer.echo(f"connected={status.connected} buffered={status.buffered} counts={status.counts}"
                       + (f" store_error={status.store_error}" if status.store_error else ""), err=True)
    finally:
        service.stop()


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
