"""Settings, one class per service, read from the environment (and `.env`).

Every setting has an environment variable (`HOMETWIN_<NAME>` unless a course name is kept, such as
`SCH_SERVICE_NAME`) and a default that runs on a fresh machine without any server.
docs/configuration.md lists them all; `tests/unit/test_config_docs.py` checks that it does.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hometwin.dispatch_signature import check_secret
from hometwin.domain.addresses import check_address, parse_sender

if TYPE_CHECKING:
    from hometwin.domain.alerts import AlertPolicy
    from hometwin.domain.detection import DetectionParams


def default_data_dir() -> Path:
    """Where embedded stores live: $XDG_DATA_HOME/hometwin, else ~/.local/share/hometwin."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hometwin"


def read_secret(value: str | SecretStr | None, path: Path | None) -> str | None:
    """A secret from its file (a Kubernetes secret mount; the file wins) or its variable.

    An unreadable file is a configuration error naming the file, never a silent "no secret"."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror or exc}") from None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


class CommonSettings(BaseSettings):
    """Settings every part of HomeTwin shares."""

    model_config = SettingsConfigDict(env_prefix="HOMETWIN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Directory of the embedded stores.")
    tz: str = Field("Europe/Berlin", description="The home's IANA time zone; seasonality uses local time.")
    home_id: str = Field("home", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
                         description="Identifies the home in model keys and e-mails.")
    homes_file: Path | None = Field(
        None, description="YAML file declaring the homes one deployment serves (docs/fleet.md); unset: one "
                          "home from HOMETWIN_HOME_ID, HOMETWIN_TZ and HOMETWIN_CAREGIVERS, as before.")
    log_level: str = Field("INFO", description="Python logging level.")


class DashboardSettings(CommonSettings):
    """The caregiver's web page (`hometwin component dashboard`).

    With neither a token nor a password set, the dashboard is open to anyone who can reach it:
    fine on 127.0.0.1 for the demo, never on a network. Each secret may instead be read from a
    file (`..._FILE`, e.g. a Kubernetes secret mount); the file wins over the variable. A secret
    shorter than its minimum or a placeholder (`REPLACE_ME`, `changeme`, `password`, ...) is
    refused at start, naming the setting (docs/dashboard.md, "Login and security").
    """

    # A refused secret must not be echoed into the terminal or a pod's log by pydantic's message.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    dashboard_token: str | None = Field(
        None, description="Access token: sent as `Authorization: Bearer ...` or typed at the login page "
                          "(24+ characters, e.g. `openssl rand -hex 32`).")
    dashboard_token_file: Path | None = Field(None, description="File holding the access token.")
    dashboard_password: str | None = Field(
        None, description="Caregiver password for the login page (15+ characters; a passphrase of a few words).")
    dashboard_password_file: Path | None = Field(None, description="File holding the password.")
    dashboard_session_secret: str | None = Field(
        None, description="Key signing the session cookie (32+ characters); random per process when unset "
                          "(then everyone logs in again after a restart).")
    dashboard_session_secret_file: Path | None = Field(None, description="File holding the session key.")
    dashboard_session_hours: float = Field(12.0, gt=0, description="How long a login lasts, in hours.")
    dashboard_secure_cookie: bool | None = Field(
        None, description="Send the session cookie over HTTPS only. Unset: yes unless the page is served on "
                          "localhost (decided per request); `false` only for plain HTTP on a trusted home network.")
    dashboard_login_failures: int = Field(
        5, ge=1, description="Wrong secrets one client (IP address, IPv6 /64) may try per window; then HTTP 429.")
    dashboard_login_failures_total: int = Field(
        100, ge=1, description="Wrong secrets all clients together may try per window; then every new "
                               "login waits (sessions already logged in keep working).")
    dashboard_login_window_minutes: float = Field(
        15.0, gt=0, description="The sliding window of the two login limits, in minutes.")
    dashboard_refresh_seconds: int = Field(
        60, ge=0, description="The 'now' page and the home list reload themselves this often, and no home's "
                              "status on the list is older (0: never reload; the list reads every home at each load).")
    dashboard_history_hours: float = Field(
        24.0, gt=0, description="How far back the 'now' page reads events to find the current stay.")
    dashboard_data_missing_hours: float = Field(
        12.0, gt=0, description="The home list says 'data missing' for a home without a sensor event for this "
                                "many hours.")
    dashboard_accounts_file: Path | None = Field(
        None, description="YAML file of caregiver accounts, each seeing only its homes (docs/dashboard.md, "
                          "'Accounts'); the token and password above stay all-homes admins.")
    dashboard_mail_dir: Path | None = Field(
        None, description="A local Maildir whose e-mails get their own page (the demo's mail); default: the "
                          "Maildir of HOMETWIN_SMTP_URL when that is `maildir://`, else none.")
    ack_secret: str | None = Field(
        None, description="Key of the signed acknowledge links in the e-mails (same value for the "
                          "actuation and the dashboard; 16+ characters); without it e-mail links are refused.")
    ack_secret_file: Path | None = Field(None, description="File holding the ack-link key.")
    clock: str = Field("real", description="`real`, or the demo's accelerated clock (see hometwin.clock).")

    @model_validator(mode="after")
    def _secrets_are_real(self) -> DashboardSettings:
        # Read the files here too, so a placeholder in a Kubernetes Secret stops the start, not a login.
        for name, minimum, value in (("dashboard_token", 24, self.token()),
                                     ("dashboard_password", 15, self.password()),
                                     ("dashboard_session_secret", 32, self.session_secret()),
                                     ("ack_secret", 16, self.ack_key())):
            problem = weak_secret(value, minimum) if value is not None else None
            if problem:
                file = getattr(self, f"{name}_file")
                where = f"HOMETWIN_{name.upper()}" + (f"_FILE ({file})" if file is not None else "")
                raise ValueError(f"{where} {problem}; docs/dashboard.md says what to put there")
        return self

    def token(self) -> str | None:
        return read_secret(self.dashboard_token, self.dashboard_token_file)

    def password(self) -> str | None:
        return read_secret(self.dashboard_password, self.dashboard_password_file)

    def session_secret(self) -> str | None:
        return read_secret(self.dashboard_session_secret, self.dashboard_session_secret_file)

    def ack_key(self) -> str | None:
        return read_secret(self.ack_secret, self.ack_secret_file)


# Compared after lower-casing and dropping everything but letters and digits, so `Change-Me!`,
# `REPLACE_ME_TOO` and `<your token>` are caught as well.
PLACEHOLDER_MARKERS = ("replaceme", "changeme", "changethis", "placeholder", "yourpassword",
                       "yoursecret", "yourtoken", "fillmein")
# Refused when the whole secret is one of these (digits around it or repeats do not help).
WEAK_WORDS = ("password", "passwort", "passw0rd", "secret", "admin", "administrator", "root", "token",
              "letmein", "welcome", "qwerty", "default", "test", "guest", "hometwin", "dashboard", "caregiver")


def weak_secret(value: str, minimum: int) -> str | None:
    """Why `value` is not good enough as a secret of at least `minimum` characters, or None.

    Never names the value itself: the message goes to logs."""
    normalized = re.sub(r"[^a-z0-9]", "", value.lower())
    if any(marker in normalized for marker in PLACEHOLDER_MARKERS):
        return "is still a placeholder: replace it with a real secret"
    core = normalized.strip("0123456789")
    if core and any(core == word * (len(core) // len(word)) for word in WEAK_WORDS):
        return "is a well-known guess: choose another secret"
    if len(value) < minimum:
        return f"is {len(value)} characters long: it must have at least {minimum}"
    if len(set(value)) < 4:
        return "repeats the same few characters: choose another secret"
    return None


class StoreSettings(CommonSettings):
    """Where models (write-once, never deleted) and state (alert state, idempotency memory) are kept.

    Store URLs: `file:///abs/path`, `memory://[name]`, `s3://bucket/prefix`. S3 keys may come from
    files (`..._FILE`, e.g. a Kubernetes secret mount; the file wins). The course's `MINIO_*` names
    are accepted too. Models on S3 are protected by object lock: by default compliance retention for
    100 years plus a legal hold, so nobody, not even the storage admin, can delete them.
    """

    model_config = SettingsConfigDict(populate_by_name=True)

    model_store: str = Field("", description="Where trained models go (default: file://<data_dir>/models).")
    state_store: str = Field("", description="Alert state and idempotency memory (default: file://<data_dir>/state).")
    s3_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("HOMETWIN_S3_ENDPOINT", "MINIO_ENDPOINT", "MINIO_URL"),
        description="S3 server as host:port or http(s)://host:port (for s3:// stores).")
    s3_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("HOMETWIN_S3_ACCESS_KEY", "MINIO_ACCESS_KEY", "MINIO_ROOT_USER"),
        description="S3 access key.")
    s3_access_key_file: Path | None = Field(
        None, validation_alias=AliasChoices("HOMETWIN_S3_ACCESS_KEY_FILE", "MINIO_ACCESS_KEY_FILE"),
        description="File holding the S3 access key.")
    s3_secret_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HOMETWIN_S3_SECRET_KEY", "MINIO_SECRET_KEY", "MINIO_ROOT_PASSWORD"),
        description="S3 secret key.")
    s3_secret_key_file: Path | None = Field(
        None, validation_alias=AliasChoices("HOMETWIN_S3_SECRET_KEY_FILE", "MINIO_SECRET_KEY_FILE"),
        description="File holding the S3 secret key.")
    s3_secure: bool | None = Field(
        None, validation_alias=AliasChoices("HOMETWIN_S3_SECURE", "MINIO_SECURE"),
        description="Use HTTPS; default: from the endpoint's scheme, else true.")
    s3_verify_tls: bool = Field(True, description="Verify the server's TLS certificate (keep it on).")
    s3_ca_file: Path | None = Field(None, description="CA bundle to verify a private server's certificate.")
    s3_region: str | None = Field(None, description="S3 region (MinIO and SeaweedFS ignore it).")
    s3_retention_mode: str = Field(
        "compliance", pattern=r"^(compliance|governance|none)$",
        description="Object-lock retention of each model: compliance (nobody can delete), governance "
                    "(admins with the bypass permission can), none.")
    s3_retention_days: int = Field(36500, ge=1, description="How long the retention lasts, in days.")
    s3_legal_hold: bool = Field(True, description="Also put a legal hold on each model (lasts until lifted).")
    s3_timeout_seconds: float = Field(30.0, gt=0, description="Connect and read timeout of S3 requests.")
    s3_wait_seconds: float = Field(
        3.0, gt=0, description="How long a monitoring check or an e-mail send waits for one S3 call; a store "
                               "that takes longer counts as down (docs/reliability.md). Others wait the timeout.")

    @model_validator(mode="after")
    def _default_stores(self) -> StoreSettings:
        if not self.model_store:
            self.model_store = (self.data_dir / "models").resolve().as_uri()
        if not self.state_store:
            self.state_store = (self.data_dir / "state").resolve().as_uri()
        return self

    def access_key(self) -> str | None:
        return read_secret(self.s3_access_key, self.s3_access_key_file)

    def secret_key(self) -> str | None:
        return read_secret(self.s3_secret_key, self.s3_secret_key_file)


class SchedulerSettings(CommonSettings):
    """The event scheduler (`hometwin scheduler`); per-function registrations may override the
    delivery defaults (`timeout`, `max_attempts`, `concurrency`, `join_window`)."""

    scheduler_host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in a container).")
    scheduler_port: int = Field(9000, ge=1, le=65535, description="Port to listen on (the course's 9000).")
    scheduler_state: str | None = Field(
        None, description="State database URL: `sqlite:///abs/path.sqlite`, `postgresql://user:pw@host:5432/db` "
                          "(several replicas on one database, docs/scheduler.md), or `memory://[name]` (lost on "
                          "exit: tests only); default `<data_dir>/scheduler.sqlite`.")
    scheduler_state_file: Path | None = Field(
        None, description="File holding the state URL (wins over the variable): a PostgreSQL URL with its "
                          "password, mounted from a Kubernetes Secret.")
    scheduler_token: str | None = Field(
        None, description="Bearer token required on every route but /healthz and /readyz; unset: no auth.")
    scheduler_token_file: Path | None = Field(
        None, description="File holding the token (wins over the variable).")
    dispatch_secret: SecretStr | None = Field(
        None, description="Shared key that signs every invocation (HMAC-SHA256, docs/scheduler.md); the "
                          "components check it with the same variable. 32+ random characters, e.g. "
                          "`openssl rand -hex 32`. Unset: invocations go out unsigned (a warning).")
    dispatch_secret_file: Path | None = Field(
        None, description="File holding the dispatch secret (wins over the variable; an empty file is an error).")
    scheduler_max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body.")
    scheduler_timeout: float = Field(10.0, gt=0, description="Default per-invocation HTTP timeout, seconds.")
    scheduler_max_attempts: int = Field(
        500, ge=1, description="Default delivery attempts before dead-lettering; with the default backoff "
                               "500 attempts take 4 to 8 hours.")
    scheduler_concurrency: int = Field(
        32, ge=1, description="Default concurrent deliveries per function (a lane of its own each).")
    scheduler_backoff_initial: float = Field(0.5, gt=0, description="First retry delay, seconds (doubles).")
    scheduler_backoff_max: float = Field(60.0, gt=0, description="Cap of the retry delay, seconds.")
    scheduler_join_window: float = Field(
        0.0, ge=0, description="Default join window, seconds: queued events older are expired (0: never).")
    scheduler_synchronous: str = Field(
        "FULL", pattern="^(FULL|NORMAL)$",
        description="SQLite synchronous mode: FULL survives power loss, "
                    "NORMAL (WAL) survives process crashes only.")
    scheduler_max_batch: int = Field(256, ge=1, description="Most commands in one group commit.")
    scheduler_retention_hours: float = Field(
        24.0, ge=0, description="Delivered invocations are deleted after this many hours.")
    scheduler_dead_retention_days: float = Field(
        30.0, ge=0, description="Dead invocations are deleted this many days after they died.")
    scheduler_auto_replay: bool = Field(
        True, description="When a function delivers again, replay its dead invocations that ran out of "
                          "attempts on retryable failures (never those refused with a 4xx).")
    scheduler_auto_replay_batch: int = Field(
        100, ge=1, description="Most dead invocations replayed automatically per successful delivery.")
    scheduler_max_functions: int = Field(
        1000, ge=1, description="Most registered functions; registering one more is refused (409).")
    scheduler_fanout_budget_bytes: int = Field(
        8 * 1_048_576, ge=1024,
        description="An event's request bytes times the number of functions subscribed to it must stay "
                    "within this (each keeps a copy); over it: 413, nothing stored.")
    scheduler_max_reply_bytes: int = Field(
        1_048_576, ge=0, description="A function's reply body is read (and discarded) up to this many "
                                     "bytes; past it the connection is closed and the status decides.")
    scheduler_verify_tls: bool = Field(True, description="Verify TLS certificates of https:// functions.")
    scheduler_fast_io: bool = Field(
        True, description="Serve with uvloop and the httptools parser when installed (about 30 % more "
                          "events/s); false: asyncio's loop and the pure-Python h11 parser.")

    def state_url(self) -> str:
        return (read_secret(self.scheduler_state, self.scheduler_state_file)
                or f"sqlite:///{(self.data_dir / 'scheduler.sqlite').resolve()}")

    def token(self) -> str | None:
        return read_secret(self.scheduler_token, self.scheduler_token_file)

    def dispatch_key(self) -> str | None:
        """The checked dispatch secret, or None when none is configured (ValueError when unusable)."""
        secret = read_secret(self.dispatch_secret, self.dispatch_secret_file)
        if secret is None and self.dispatch_secret_file is not None:
            # A mounted Secret whose key was left empty must not silently turn signing off.
            raise ValueError(f"the dispatch secret file {self.dispatch_secret_file} is empty")
        if secret is None:
            return None
        source = "HOMETWIN_DISPATCH_SECRET_FILE" if self.dispatch_secret_file else "HOMETWIN_DISPATCH_SECRET"
        return check_secret(secret.strip(), source)  # stripped, as the SDK reads it


def _env(name: str, *course: str) -> AliasChoices:
    """Accept `INFLUXDB_X` (the course's style, first), `HOMETWIN_INFLUXDB_X`, and older course names."""
    return AliasChoices(name, f"HOMETWIN_{name}", *course)


class SourceSettings(CommonSettings):
    """Where sensor events come from (and go to, for `hometwin import/simulate --to`).

    `events` is a URL: `sqlite:///abs/path.sqlite` (the embedded default), `memory://[name]`, or
    InfluxDB v2 as `influxdb://host:port` (plain HTTP), `https://host:port` / `http://host:port`.
    The InfluxDB names default to the course layout: one bucket per sensor, measurement `PIR` / `door` /
    `MagneticSwitch`, string field `roomID`, tag `_type = "sensor-value"`. Secrets may come from files
    (`..._FILE`, e.g. a Kubernetes secret mount; the file wins).
    """

    model_config = SettingsConfigDict(populate_by_name=True)

    events: str = Field("", description="Event source URL (default: sqlite:///<data_dir>/events.sqlite).")
    influxdb_host: str | None = Field(
        None, validation_alias=_env("INFLUXDB_HOST", "INFLUX_URL"),
        description="InfluxDB URL, used when the events URL is `influxdb://` without a host.")
    influxdb_token: SecretStr | None = Field(None, validation_alias=_env("INFLUXDB_TOKEN"),
                                             description="API token (preferred over user/password).")
    influxdb_token_file: Path | None = Field(None, validation_alias=_env("INFLUXDB_TOKEN_FILE"),
                                             description="File holding the API token.")
    influxdb_org: str | None = Field(None, validation_alias=_env("INFLUXDB_ORG", "INFLUX_ORG"),
                                     description="Organisation (the course uses one per semester).")
    influxdb_user: str | None = Field(None, validation_alias=_env("INFLUXDB_USER", "INFLUX_USER"),
                                      description="User name, when no token is given.")
    influxdb_password: SecretStr | None = Field(
        None, validation_alias=_env("INFLUXDB_PASSWORD", "INFLUX_PASS"), description="Password of that user.")
    influxdb_password_file: Path | None = Field(None, validation_alias=_env("INFLUXDB_PASSWORD_FILE"),
                                                description="File holding the password.")
    influxdb_buckets: str = Field("", validation_alias=_env("INFLUXDB_BUCKETS"),
                                  description="Comma-separated buckets to read; empty: every bucket whose "
                                              "name matches the pattern below.")
    influxdb_bucket_pattern: str = Field(
        r"^[^_]", validation_alias=_env("INFLUXDB_BUCKET_PATTERN"),
        description="Regular expression selecting buckets when none are listed (default: all but the "
                    "system buckets `_monitoring`, `_tasks`).")
    influxdb_measurements: str = Field(
        "PIR,door,MagneticSwitch", validation_alias=_env("INFLUXDB_MEASUREMENTS"),
        description="Comma-separated measurements that are sensor events.")
    influxdb_kinds: str = Field(
        "PIR=motion,door=door,MagneticSwitch=contact", validation_alias=_env("INFLUXDB_KINDS"),
        description="measurement=kind pairs (kinds: motion, door (to the outside), contact, pressure, "
                    "other).")
    influxdb_room_field: str = Field("roomID", validation_alias=_env("INFLUXDB_ROOM_FIELD"),
                                     description="String field holding the room.")
    influxdb_room_tag: str = Field("", validation_alias=_env("INFLUXDB_ROOM_TAG"),
                                   description="Take the room from this tag instead of the field.")
    influxdb_value_field: str = Field("", validation_alias=_env("INFLUXDB_VALUE_FIELD"),
                                      description="Numeric field with the reading; empty: every point is "
                                                  "one detection (value 1).")
    influxdb_type_tag: str = Field("_type", validation_alias=_env("INFLUXDB_TYPE_TAG"),
                                   description="Tag marking sensor readings (empty: no filter).")
    influxdb_type_value: str = Field("sensor-value", validation_alias=_env("INFLUXDB_TYPE_VALUE"),
                                     description="Required value of that tag.")
    influxdb_write_bucket: str = Field(
        "{sensor}", validation_alias=_env("INFLUXDB_WRITE_BUCKET"),
        description="Bucket the writer uses per event; `{sensor}` and `{room}` are replaced (course "
                    "layout: one bucket per sensor).")
    influxdb_verify_ssl: bool = Field(True, validation_alias=_env("INFLUXDB_VERIFY_SSL"),
                                      description="Verify the server's TLS certificate (keep it on).")
    influxdb_ca_file: Path | None = Field(None, validation_alias=_env("INFLUXDB_CA_FILE"),
                                          description="CA bundle for a private server certificate.")
    influxdb_timeout_seconds: float = Field(30.0, gt=0, validation_alias=_env("INFLUXDB_TIMEOUT_SECONDS"),
                                            description="Timeout of one HTTP request.")
    influxdb_retries: int = Field(3, ge=0, validation_alias=_env("INFLUXDB_RETRIES"),
                                  description="Retries of a failed request, with exponential backoff.")

    @model_validator(mode="after")
    def _default_events(self) -> SourceSettings:
        if not self.events:
            self.events = "sqlite://" + str((self.data_dir / "events.sqlite").resolve())
        return self

    def token(self) -> str | None:
        return read_secret(self.influxdb_token, self.influxdb_token_file)

    def password(self) -> str | None:
        return read_secret(self.influxdb_password, self.influxdb_password_file)

    def bucket_list(self) -> list[str]:
        return [b.strip() for b in self.influxdb_buckets.split(",") if b.strip()]

    def measurement_list(self) -> list[str]:
        return [m.strip() for m in self.influxdb_measurements.split(",") if m.strip()]

    def kind_map(self) -> dict[str, str]:
        pairs = (p.partition("=") for p in self.influxdb_kinds.split(",") if p.strip())
        return {m.strip(): k.strip() for m, _, k in pairs}


class IngestSettings(CommonSettings):
    """The live MQTT ingest (`hometwin ingest`, the `ingest` component): docs/home-assistant.md.

    Events go to the store of HOMETWIN_EVENTS (SourceSettings). The broker's password may come from
    a file (`..._FILE`, e.g. a Kubernetes secret mount; the file wins). TLS (`mqtts://`) verifies
    the broker's certificate unless told otherwise.
    """

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    mqtt_url: str = Field("mqtt://127.0.0.1:1883", pattern=r"^(?i:mqtts?)://",
                          description="The broker: `mqtt://host:port` (1883 by default) or `mqtts://host:port` "
                                      "(TLS, 8883).")
    mqtt_username: str | None = Field(None, description="MQTT user name; unset: connect anonymously.")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password.")
    mqtt_password_file: Path | None = Field(None, description="File holding the MQTT password.")
    mqtt_ca_file: Path | None = Field(None, description="CA certificate (PEM) of a broker with a private "
                                                        "certificate (`mqtts://`).")
    mqtt_verify_tls: bool = Field(True, description="Verify the broker's TLS certificate (keep it on).")
    mqtt_client_id: str = Field(
        "", pattern=r"^[A-Za-z0-9_.-]{0,64}$",
        description="Client id; the broker keeps the session (and queued messages) under it. "
                    "Default `hometwin-ingest-<home_id>`.")
    mqtt_topics: str = Field(
        "zigbee2mqtt/#,homeassistant/binary_sensor/+/state",
        description="Comma-separated topic filters to subscribe (QoS 1), besides every topic of the mapping; "
                    "messages on topics the mapping does not name are counted and logged once.")
    mqtt_zigbee2mqtt_base: str = Field("zigbee2mqtt", min_length=1,
                                       description="Zigbee2MQTT's base topic (its `mqtt.base_topic`).")
    mqtt_statestream_base: str = Field(
        "homeassistant", min_length=1, description="Home Assistant statestream's `base_topic`.")
    mqtt_session_expiry_hours: float = Field(
        168.0, gt=0, le=24 * 365, description="How long the broker keeps the session and its queued messages "
                                              "while the ingest is away.")
    mqtt_keepalive_seconds: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval.")
    ingest_mapping: Path | None = Field(
        None, description="The mapping file (YAML or CSV): which topic is which sensor, room and kind. "
                          "Required; `hometwin ingest --propose-mapping` drafts one from Zigbee2MQTT.")
    ingest_buffer: Path | None = Field(
        None, description="The durable local buffer (SQLite); default `<data_dir>/ingest-buffer.sqlite`.")
    ingest_buffer_limit: int = Field(
        1_000_000, ge=100, description="Most events the buffer holds while the store is down; when full, "
                                       "messages stay unacknowledged at the broker.")
    ingest_buffer_warn: int = Field(
        1_000, ge=1, description="Log a warning when the buffer holds this many events (and at each doubling).")

    def client_id(self) -> str:
        return self.mqtt_client_id or f"hometwin-ingest-{self.home_id}"[:64]

    def password(self) -> str | None:
        return read_secret(self.mqtt_password, self.mqtt_password_file)

    def topic_list(self) -> list[str]:
        return [t.strip() for t in self.mqtt_topics.split(",") if t.strip()]

    def buffer_path(self) -> Path:
        return self.ingest_buffer or self.data_dir / "ingest-buffer.sqlite"


class MonitoringSettings(CommonSettings):
    """The `monitoring` component: checks for emergencies and asks for training."""

    monitoring_check_every: str = Field(
        "* * * * *", description="How often to check: a cron spec or a Go-style duration such as '30s'.")
    monitoring_train_cron: str = Field(
        "0 3 * * 1", description="When to ask for a new model (cron, home time zone; default Monday 03:00).")
    monitoring_model_poll_s: float = Field(
        60.0, gt=0, description="Seconds between looks for a newer model version.")
    monitoring_redrive_initial_s: float = Field(
        120.0, gt=0, description="An alert e-mail not yet accepted by the mail server is handed to the "
                                 "scheduler again this many seconds after the last time (doubling).")
    monitoring_redrive_max_s: float = Field(
        600.0, gt=0, description="Longest wait between two hand-overs of an e-mail not yet sent, seconds.")
    monitoring_redrive_resolved_hours: float = Field(
        24.0, gt=0, description="After an alert resolved, its e-mails not yet sent (the all clear) are "
                                "re-driven this many hours more, then given up (logged).")
    monitoring_workers: int = Field(
        8, ge=1, le=256, description="Homes checked at the same time (a fleet: docs/fleet.md).")
    monitoring_slots: int = Field(
        1, ge=1, le=60, description="A fleet's homes are checked in this many slots, one slot a tick: with the tick "
                                    "every 60/slots s (HOMETWIN_MONITORING_CHECK_EVERY) each home once a minute, "
                                    "the checks spread over the minute (docs/fleet.md).")
    monitoring_home_timeout_s: float = Field(
        8.0, gt=0, description="A home's check taking longer is reported as late on /status and skipped "
                               "until it ends; the other homes' checks do not wait for it.")
    monitoring_replica: str = Field(
        "0/1", pattern=r"^(\d+|auto)/[1-9]\d*$",
        description="This replica's share of the homes, `i/n` (0 <= i < n): it checks the homes whose id "
                    "hashes to i. `auto/n` takes i from the StatefulSet ordinal ending the host name.")
    clock: str = Field("real", description="'real', or the demo's accelerated clock (set by `hometwin demo`).")

    def replica(self) -> tuple[int, int]:
        """(index, count) of this monitoring replica; ValueError when it is out of range."""
        index, count = self.monitoring_replica.split("/")
        if index == "auto":
            host = os.environ.get("HOSTNAME", "")
            match = re.search(r"-(\d+)$", host)
            if match is None:
                raise ValueError(f"HOMETWIN_MONITORING_REPLICA=auto/{count}: the host name {host!r} ends in no "
                                 "StatefulSet ordinal (-0, -1, ...)")
            index = match.group(1)
        if int(index) >= int(count):
            raise ValueError(f"HOMETWIN_MONITORING_REPLICA: replica {index} of {count} does not exist (0 to "
                             f"{int(count) - 1})")
        return int(index), int(count)


class ModelingSettings(CommonSettings):
    """The `modeling` component: trains and registers behaviour models."""

    modeling_window_days: float = Field(56.0, gt=0, description="Days of history each training uses.")
    modeling_min_days: float = Field(
        3.0, gt=0, description="Refuse to train on less history than this (days with data).")
    modeling_workers: int = Field(
        1, ge=1, le=64, description="Homes trained at the same time by the weekly retrain of a fleet, each "
                                    "in its own worker process when above 1 (one core each; a worker costs "
                                    "its own memory, docs/fleet.md); 1 trains in the component's process.")
    clock: str = Field("real", description="'real', or the demo's accelerated clock.")
    detect_false_alarm_budget: float = Field(
        0.1, ge=0, description="False alarms a day each home's alarm limits are calibrated to at training, "
        "shared out over the detectors (docs/detection.md; 0: no calibration).")


class ActuationSettings(CommonSettings):
    """The `actuation` component: sends the caregiver's e-mails."""

    actuation_retry_every: str = Field(
        "30s", description="How often e-mails queued while the mail server was down are retried.")


class MailSettings(CommonSettings):
    """E-mail to the caregivers (the actuation component; docs/alerts.md).

    The default delivers into a local Maildir folder, `<data_dir>/mail`, so the demo needs no
    mail server. Secrets may come from files (`..._FILE`, e.g. a Kubernetes secret; the file wins).
    """

    smtp_url: str = Field("", description="Mail server: `smtp://host:port` (STARTTLS, port 587 by default), "
                                          "`smtps://host:port` (TLS, 465) or `maildir:///abs/path`; "
                                          "default `maildir://<data_dir>/mail`.")
    smtp_user: str | None = Field(None, description="SMTP login name; unset: no authentication.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_password_file: Path | None = Field(None, description="File holding the SMTP password.")
    smtp_starttls: str = Field("auto", pattern="^(auto|required|off)$",
                               description="For smtp://: `auto` requires STARTTLS unless the server is on "
                                           "this machine, `required`, or `off`.")
    smtp_verify_tls: bool = Field(True, description="Verify the mail server's TLS certificate.")
    smtp_ca_file: Path | None = Field(None, description="Extra CA certificates (PEM) for the mail server.")
    smtp_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the mail server.")
    mail_from: str = Field("HomeTwin <hometwin@localhost>",
                           description="Sender: `addr@domain` or `Name <addr@domain>`.")
    caregivers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated addresses, in escalation order: the first is "
                                          "told first, the next ones are added while nobody acknowledges.")
    ack_secret: SecretStr | None = Field(
        None, description="Key signing the acknowledge links (same value for the actuation and the "
                          "dashboard, at least 16 characters); unset: e-mails carry no link.")
    ack_secret_file: Path | None = Field(None, description="File holding the ack-link key.")
    public_dashboard_url: str | None = Field(
        None, description="The dashboard's address as caregivers reach it, e.g. https://care.example.org; "
                          "unset: e-mails carry no link.")
    mail_retry_initial: float = Field(15.0, gt=0, description="First retry delay after a failed send, "
                                                              "seconds (doubles each time).")
    mail_retry_max: float = Field(
        60.0, gt=0, description="Longest retry delay, seconds. With the actuation's outbox round "
                                "(HOMETWIN_ACTUATION_RETRY_EVERY) it bounds how long a returning mail server "
                                "waits for the e-mails queued meanwhile; keep the sum under 2 minutes.")
    mail_lease_seconds: float = Field(
        120.0, gt=0, description="How long one process's claim on sending an e-mail lasts, seconds: another "
                                 "process may try only after it failed or this long passed. At least 6 times "
                                 "HOMETWIN_SMTP_TIMEOUT.")

    @field_validator("caregivers", mode="before")
    @classmethod
    def _split_caregivers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in re.split(r"[,;\s]+", value) if part]
        return value

    @field_validator("caregivers")
    @classmethod
    def _check_caregivers(cls, value: list[str]) -> list[str]:
        checked = [check_address(a) for a in value]
        if len({a.lower() for a in checked}) != len(checked):
            raise ValueError("a caregiver is listed twice")
        return checked

    @field_validator("mail_from")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        parse_sender(value)
        return value

    @model_validator(mode="after")
    def _default_mail_url(self) -> MailSettings:
        if self.mail_lease_seconds < 6 * self.smtp_timeout:
            # A send that outlives its lease could be repeated by another process.
            raise ValueError(f"mail_lease_seconds ({self.mail_lease_seconds:g}) must be at least 6 times "
                             f"smtp_timeout ({self.smtp_timeout:g}): one send may wait that long")
        if not self.smtp_url:
            self.smtp_url = "maildir://" + (self.data_dir / "mail").resolve().as_posix()
        return self

    def smtp_password_value(self) -> str | None:
        return read_secret(self.smtp_password, self.smtp_password_file)

    def ack_key(self) -> str | None:
        return read_secret(self.ack_secret, self.ack_secret_file)


class AlertSettings(CommonSettings):
    """How alerts repeat and escalate (the monitoring) and how long e-mail links stay valid."""

    alert_repeat_minutes: float = Field(
        15.0, gt=0, description="Repeat an unacknowledged emergency this often.")
    alert_escalate_minutes: float = Field(
        30.0, gt=0, description="Add the next caregiver of HOMETWIN_CAREGIVERS after this long "
                                "unacknowledged.")
    alert_warning_delay_minutes: float = Field(
        10.0, ge=0, description="A warning must last this long before anyone is told.")
    alert_warning_repeat_minutes: float = Field(
        60.0, gt=0, description="Repeat (and escalate) an unacknowledged warning this often.")
    alert_clear_after_minutes: float = Field(
        10.0, ge=0, description="Send the all clear once the finding has been gone this long; if it (or, for "
                                "someone still in the same room, another finding about the person) comes "
                                "back before, the alert goes on.")
    alert_keep_resolved_days: float = Field(90.0, gt=0, description="Forget resolved alerts after this long.")
    ack_link_hours: float = Field(48.0, gt=0, description="How long an acknowledge link in an e-mail works.")

    def policy(self, caregivers: Sequence[str]) -> AlertPolicy:
        from hometwin.domain.alerts import AlertPolicy

        return AlertPolicy(repeat_every=timedelta(minutes=self.alert_repeat_minutes),
                           escalation=tuple(caregivers),
                           escalate_after=timedelta(minutes=self.alert_escalate_minutes),
                           warning_delay=timedelta(minutes=self.alert_warning_delay_minutes),
                           warning_repeat_every=timedelta(minutes=self.alert_warning_repeat_minutes),
                           keep_resolved=timedelta(days=self.alert_keep_resolved_days),
                           clear_after=timedelta(minutes=self.alert_clear_after_minutes))

    @property
    def ack_link_lifetime(self) -> timedelta:
        return timedelta(hours=self.ack_link_hours)


def detection_knobs(base: type[CommonSettings], params: type[DetectionParams]) -> type[CommonSettings]:
    """`base` with one `detect_<name>` setting per knob of `params` (`DetectionParams`, domain/detectors/).

    Type, default, bounds and description come from the knob, so a detector's new parameter is a
    setting (and a row of docs/configuration.md) without an edit here. A `dict[str, float]` knob is
    read as comma-separated pairs, e.g. "bathroom=40,bedroom=600" (parsed by `params()`).
    """
    import dataclasses
    from typing import get_type_hints

    from pydantic import create_model

    hints = get_type_hints(params)
    knobs: dict[str, Any] = {}
    for knob in dataclasses.fields(params):
        meta, hint = knob.metadata, hints[knob.name]
        name = f"detect_{meta.get('env') or knob.name}"
        if hint in (float, int, bool, str):
            knobs[name] = (hint, Field(knob.default, description=meta["doc"], **meta["bounds"]))
        elif hint == dict[str, float]:
            knobs[name] = (str, Field("", description=meta["doc"]))
        else:
            raise TypeError(f"{params.__name__}.{knob.name}: no setting for a {hint}")
    return create_model("DetectionKnobs", __base__=base, __module__=__name__, **knobs)


def _detection_params() -> type[DetectionParams]:
    from hometwin.domain.detection import DetectionParams

    return DetectionParams


class DetectionSettings(detection_knobs(CommonSettings, _detection_params())):  # type: ignore[misc]  # generated
    """The detectors' knobs (`domain.detectors.DetectionParams`, declared by each detector): docs/detection.md.

    Limits are surprises, -log10 of how rare an observation is under the learned model (3 = 1 in 1,000);
    floors are minutes below which a detector never fires. Each setting is `HOMETWIN_DETECT_<KNOB>`
    with the knob's default, generated from `DetectionParams`.
    """

    def params(self) -> DetectionParams:
        return params_from_knobs(self, _detection_params())


def params_from_knobs(settings: BaseSettings, params: type[DetectionParams]) -> DetectionParams:
    """The `params` dataclass from the `detect_<name>` settings `detection_knobs` made for it."""
    import dataclasses
    from typing import get_type_hints

    hints = get_type_hints(params)
    values: dict[str, Any] = {}
    for knob in dataclasses.fields(params):
        name = f"detect_{knob.metadata.get('env') or knob.name}"
        value = getattr(settings, name)
        if hints[knob.name] == dict[str, float]:
            value = _pairs(value, f"HOMETWIN_{name.upper()}", knob.metadata)
        values[knob.name] = value
    return params(**values)


def _pairs(text: str, variable: str, meta: Mapping[str, Any]) -> dict[str, float]:
    """"a=1, b=2" -> {"a": 1.0, "b": 2.0}; each value within the knob's bounds."""
    bounds = meta["bounds"]
    out: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, number = pair.partition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        within = (value >= bounds.get("ge", -math.inf) and value > bounds.get("gt", -math.inf)
                  and value <= bounds.get("le", math.inf))
        if not sep or not key.strip() or not within:
            raise ValueError(f"{variable}: {pair!r} is not {meta['pair']}")
        out[key.strip()] = value
    return out
