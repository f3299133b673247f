"""Build a component's ports from the settings: the only place components open backends.

Opening a port does not require its server to be up (S3 checks its bucket lazily on first use),
so a component starts, serves its health routes, and reports the missing dependency on /readyz.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hometwin.adapters.influx import InfluxOptions
from hometwin.adapters.mail import SmtpOptions, open_mailer
from hometwin.adapters.s3 import S3Options
from hometwin.adapters.sources import open_sink, open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.config import CommonSettings, MailSettings, SourceSettings, StoreSettings
from hometwin.domain.events import SensorEvent
from hometwin.ports import Mailer, ObjectStore, SensorSink, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.homes import Home, Homes, configured_homes
from hometwin.sqlite_url import sqlite_path

if TYPE_CHECKING:
    from hometwin.adapters.mqtt_client import MqttOptions
    from hometwin.config import IngestSettings
    from hometwin.services.ingest import IngestService


@dataclass
class Ports:
    source: SensorSource
    registry: ModelRegistry
    state: ObjectStore
    alerts: AlertStore
    clock: Clock
    store_wait: float = 3.0  # HOMETWIN_S3_WAIT_SECONDS: the longest a monitoring check waits for one S3 call


def influx_options(settings: SourceSettings) -> InfluxOptions:
    """The InfluxDB adapter's explicit options (secrets read from their files here)."""
    return InfluxOptions(
        token=settings.token(), org=settings.influxdb_org, user=settings.influxdb_user,
        password=settings.password(), buckets=tuple(settings.bucket_list()),
        bucket_pattern=settings.influxdb_bucket_pattern, measurements=tuple(settings.measurement_list()),
        kinds=settings.kind_map(), room_field=settings.influxdb_room_field, room_tag=settings.influxdb_room_tag,
        value_field=settings.influxdb_value_field, type_tag=settings.influxdb_type_tag,
        type_value=settings.influxdb_type_value, write_bucket=settings.influxdb_write_bucket,
        verify_ssl=settings.influxdb_verify_ssl, ca_file=settings.influxdb_ca_file,
        timeout_seconds=settings.influxdb_timeout_seconds, retries=settings.influxdb_retries)


def _is_influx(url: str) -> bool:
    return url.lower().startswith(("influxdb:", "http:", "https:"))


def open_events(url: str = "", settings: SourceSettings | None = None) -> SensorSource:
    """The sensor source `url` names (empty: `HOMETWIN_EVENTS`, by default the embedded SQLite store)."""
    settings = settings or SourceSettings()
    url = url or settings.events
    influx = influx_options(settings) if _is_influx(url) else None
    return open_source(url, influx, settings.influxdb_host)


def open_events_sink(url: str = "", settings: SourceSettings | None = None) -> SensorSink:
    """Where imports and simulations write: the same stores, or InfluxDB in the configured layout."""
    settings = settings or SourceSettings()
    url = url or settings.events
    influx = influx_options(settings) if _is_influx(url) else None
    return open_sink(url, influx, settings.influxdb_host)


def s3_options(settings: StoreSettings) -> S3Options:
    """The S3 adapter's explicit options; secrets are read from their files here, at open time."""
    return S3Options(endpoint=settings.s3_endpoint, access_key=settings.access_key(),
                     secret_key=settings.secret_key(), secure=settings.s3_secure,
                     verify_tls=settings.s3_verify_tls, ca_file=settings.s3_ca_file, region=settings.s3_region,
                     timeout_seconds=settings.s3_timeout_seconds, retention_mode=settings.s3_retention_mode,
                     retention_days=settings.s3_retention_days, legal_hold=settings.s3_legal_hold)


def open_store(url: str, settings: StoreSettings) -> ObjectStore:
    """The object store `url` names, with the S3 connection of `settings` where it is s3://."""
    return open_object_store(url, s3_options(settings) if url.lower().startswith("s3:") else None)


def smtp_options(settings: MailSettings) -> SmtpOptions:
    return SmtpOptions(sender=settings.mail_from, starttls=settings.smtp_starttls, user=settings.smtp_user,
                       password=settings.smtp_password_value(), timeout=settings.smtp_timeout,
                       verify_tls=settings.smtp_verify_tls, ca_file=settings.smtp_ca_file)


def open_mail(settings: MailSettings) -> Mailer:
    """The mailer of `settings.smtp_url`; nothing connects until the first send."""
    return open_mailer(settings.smtp_url, smtp_options(settings))


def build_ports(clock_spec: str = "real") -> Ports:
    stores = StoreSettings()
    source = open_events("", SourceSettings())
    state = open_store(stores.state_store, stores)
    registry = ModelRegistry(open_store(stores.model_store, stores), stores.home_id)
    return Ports(source, registry, state, AlertStore(state, stores.home_id), Clock.parse(clock_spec),
                 stores.s3_wait_seconds)


@dataclass
class HomePorts:
    """One home's ports: its events, its models and its alert book (the stores are shared)."""

    home: Home
    source: SensorSource
    registry: ModelRegistry
    alerts: AlertStore


def homes_from_settings(settings: CommonSettings | None = None) -> Homes:
    """The homes of HOMETWIN_HOMES_FILE, or the one implicit home (ValueError naming a bad file)."""
    settings = settings or CommonSettings()
    caregivers: list[str] = MailSettings().caregivers if settings.homes_file is None else []
    return configured_homes(settings.homes_file, home_id=settings.home_id, tz=settings.tz, caregivers=caregivers)


def home_events(home: Home, settings: SourceSettings) -> SensorSource:
    """A fleet home's events (docs/fleet.md, "Sensor selection"): its own URL, else HOMETWIN_EVENTS with
    the home's InfluxDB buckets (`<home id>_<device>_<sensor>` by default), or next to the embedded
    store `homes/<home id>.sqlite`; the room mapping of the home applies on top."""
    url = home.sensors.events or settings.events
    influx = None
    if _is_influx(url):
        buckets, pattern = home.sensors.bucket_selection(home.id)
        influx = dataclasses.replace(influx_options(settings), buckets=buckets, bucket_pattern=pattern)
    elif home.sensors.events is None and url.lower().startswith("sqlite:"):
        path = sqlite_path(url, "event")
        url = "sqlite://" + str(path.parent / "homes" / f"{home.id}.sqlite")
    elif home.sensors.events is None and url.lower().startswith("memory:"):
        url = f"memory://{urlsplit(url).netloc or 'default'}.{home.id}"
    source = open_source(url, influx, settings.influxdb_host)
    return RoomOverride(source, home.rooms) if home.rooms else source


class RoomOverride:
    """A source whose events of the listed sensors are put in the home's own room names."""

    def __init__(self, source: SensorSource, rooms: Mapping[str, str]) -> None:
        self.source, self.rooms = source, dict(rooms)

    def _mapped(self, event: SensorEvent) -> SensorEvent:
        room = self.rooms.get(event.sensor)
        return event if room is None or room == event.room else dataclasses.replace(event, room=room)

    def read(self, start: datetime, end: datetime) -> list[SensorEvent]:
        return [self._mapped(e) for e in self.source.read(start, end)]

    def stream(self, start: datetime, end: datetime) -> Iterator[SensorEvent]:
        return (self._mapped(e) for e in self.source.stream(start, end))

    def latest(self) -> SensorEvent | None:
        event = self.source.latest()
        return self._mapped(event) if event is not None else None

    def release(self) -> bool:
        """The wrapped store's `release` (closing an idle connection), so a fleet's homes with a
        `rooms:` override keep no connection open either; False when it has none."""
        release = getattr(self.source, "release", None)
        return bool(release()) if release is not None else False


def build_home_ports(homes: Homes, ports: Ports, sources: SourceSettings | None = None) -> list[HomePorts]:
    """Every home's ports over the shared stores of `ports`. The implicit home uses `ports` as they are,
    so a deployment without a homes file reads, keys and alerts exactly as before."""
    if homes.implicit:
        (home,) = homes
        return [HomePorts(home, ports.source, ports.registry, ports.alerts)]
    sources = sources or SourceSettings()
    models = ports.registry.store
    return [HomePorts(home, home_events(home, sources), ModelRegistry(models, home.id),
                      AlertStore(ports.state, home.id)) for home in homes]


def mqtt_options(settings: IngestSettings) -> MqttOptions:
    """The MQTT connection of the ingest (the password read from its file here)."""
    from hometwin.adapters.mqtt_client import MqttOptions

    return MqttOptions.from_url(
        settings.mqtt_url, username=settings.mqtt_username, password=settings.password(),
        ca_file=settings.mqtt_ca_file, verify_tls=settings.mqtt_verify_tls, client_id=settings.client_id(),
        session_expiry_seconds=int(settings.mqtt_session_expiry_hours * 3600),
        keepalive=settings.mqtt_keepalive_seconds)


def build_ingest(settings: IngestSettings, sources: SourceSettings | None = None, *,
                 events_url: str = "") -> IngestService:
    """The ingest from its settings: mapping, buffer, the events store as sink, the MQTT subscriber.
    ValueError (a MappingError among them) names what is wrong; nothing connects yet."""
    from hometwin.adapters.ingest_buffer import IngestBuffer
    from hometwin.adapters.mqtt import TopicRouter
    from hometwin.adapters.mqtt_client import MqttSubscriber
    from hometwin.adapters.mqtt_mapping import load_mapping
    from hometwin.services.ingest import IngestService

    if settings.ingest_mapping is None:
        raise ValueError("HOMETWIN_INGEST_MAPPING is not set: name the mapping file (docs/home-assistant.md; "
                         "`hometwin ingest --propose-mapping` drafts one from Zigbee2MQTT)")
    mapping = load_mapping(settings.ingest_mapping)
    router = TopicRouter(mapping, zigbee2mqtt_base=settings.mqtt_zigbee2mqtt_base,
                         statestream_base=settings.mqtt_statestream_base)
    options = mqtt_options(settings)
    topics = router.subscriptions(settings.topic_list())
    sink = open_events_sink(events_url, sources or SourceSettings())
    buffer = IngestBuffer(settings.buffer_path(), settings.ingest_buffer_limit)
    return IngestService(router, buffer, sink, lambda on_message: MqttSubscriber(options, topics, on_message),
                         warn_at=settings.ingest_buffer_warn)
