"""`hometwin component NAME`: run monitoring, modeling, actuation, the dashboard or the MQTT ingest."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class Component(StrEnum):
    monitoring = "monitoring"
    modeling = "modeling"
    actuation = "actuation"
    dashboard = "dashboard"
    ingest = "ingest"


def build_app(name: Component) -> Any:
    """The component's app from the environment (see docs/configuration.md)."""
    from hometwin.components.wiring import build_ports
    if name is Component.monitoring:
        from hometwin.components.monitoring import create_app as monitoring
        from hometwin.config import AlertSettings, DetectionSettings, MailSettings, MonitoringSettings

        settings = MonitoringSettings()
        return monitoring(settings, ports=build_ports(settings.clock), params=DetectionSettings().params(),
                          policy=AlertSettings().policy(MailSettings().caregivers))
    if name is Component.modeling:
        from hometwin.components.modeling import create_app as modeling
        from hometwin.config import ModelingSettings

        settings_m = ModelingSettings()
        return modeling(settings_m, ports=build_ports(settings_m.clock))
    if name is Component.actuation:
        from hometwin.components.actuation import create_app as actuation
        from hometwin.components.wiring import open_mail, open_store
        from hometwin.config import ActuationSettings, AlertSettings, MailSettings, StoreSettings
        from hometwin.services.outbox import Notifier
        from hometwin.services.store_deadline import bounded

        mail, stores = MailSettings(), StoreSettings()
        state = bounded(open_store(stores.state_store, stores), stores.s3_wait_seconds)  # a hanging S3 delays no send
        notifier = Notifier(open_mail(mail), state, mail,
                            ack_link_lifetime=AlertSettings().ack_link_lifetime)
        return actuation(ActuationSettings(), notifier=notifier)
    if name is Component.ingest:
        from hometwin.components.ingest import create_app as ingest
        from hometwin.components.wiring import build_ingest
        from hometwin.config import IngestSettings

        return ingest(build_ingest(IngestSettings()))
    from hometwin.components.dashboard import create_app as dashboard
    from hometwin.config import DashboardSettings, MailSettings

    settings_d = DashboardSettings()
    ports = build_ports(settings_d.clock)
    mail_url = MailSettings().smtp_url
    mail_dir = settings_d.dashboard_mail_dir or (
        Path(mail_url.removeprefix("maildir://")) if mail_url.startswith("maildir://") else None)
    from hometwin.components.wiring import build_home_ports, homes_from_settings
    from hometwin.services.homes import Home, Homes

    homes = build_home_ports(homes_from_settings(settings_d), ports) if settings_d.homes_file else None

    def home_ports(home: Home) -> Any:  # a home declared through the dashboard's API
        return build_home_ports(Homes((home,)), ports)[0]

    return dashboard(settings_d, source=ports.source, registry=ports.registry, alert_store=ports.alerts,
                     clock=ports.clock, mail_dir=mail_dir, homes=homes, home_ports=home_ports)


def register(app: typer.Typer) -> None:
    @app.command("component")
    def component(
        name: Component = typer.Argument(..., help="Which component to run."),
        host: str = typer.Option("0.0.0.0", help="Address to listen on."),  # noqa: S104 - a pod's service
        port: int = typer.Option(8000, help="Port to listen on (also sets PORT for the scheduler callback)."),
    ) -> None:
        """Run one of HomeTwin's components as an HTTP service."""
        import logging

        import uvicorn

        from hometwin.config import CommonSettings

        os.environ.setdefault("PORT", str(port))
        logging.basicConfig(level=CommonSettings().log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for chatty in ("apscheduler", "httpx"):  # one line per request or job drowns what matters
            logging.getLogger(chatty).setLevel(logging.WARNING)
        try:
            service = build_app(name)
        except ValueError as exc:  # pydantic's ValidationError is one: a bad setting, named
            typer.echo(f"hometwin component {name.value}: invalid configuration: {exc}", err=True)
            raise typer.Exit(2) from None
        uvicorn.run(service, host=host, port=port, log_level="warning")
