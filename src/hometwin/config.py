"""Settings, one class per service, read from the environment (and `.env`).

Every setting has an environment variable (`HOMETWIN_<NAME>` unless a course name is kept, such as
`SCH_SERVICE_NAME`) and a default that runs on a fresh machine without any server.
docs/configuration.md lists them all; `tests/unit/test_config_docs.py` checks that it does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    log_level: str = Field("INFO", description="Python logging level.")


class DashboardSettings(CommonSettings):
    """The caregiver's web page (`hometwin component dashboard`).

    With neither a token nor a password set, the dashboard is open to anyone who can reach it:
    fine on 127.0.0.1 for the demo, never on a network. Each secret may instead be read from a
    file (`..._FILE`, e.g. a Kubernetes secret mount); the file wins over the variable.
    """

    dashboard_token: str | None = Field(
        None, description="Access token: sent as `Authorization: Bearer ...` or typed at the login page.")
    dashboard_token_file: Path | None = Field(None, description="File holding the access token.")
    dashboard_password: str | None = Field(None, description="Caregiver password for the login page.")
    dashboard_password_file: Path | None = Field(None, description="File holding the password.")
    dashboard_session_secret: str | None = Field(
        None, description="Key signing the session cookie; random per process when unset "
                          "(then everyone logs in again after a restart).")
    dashboard_session_secret_file: Path | None = Field(None, description="File holding the session key.")
    dashboard_session_hours: float = Field(12.0, gt=0, description="How long a login lasts, in hours.")
    dashboard_secure_cookie: bool = Field(
        False, description="Send the session cookie over HTTPS only (set it when served behind TLS).")
    dashboard_refresh_seconds: int = Field(
        60, ge=0, description="The 'now' page reloads itself this often (0: never).")
    dashboard_history_hours: float = Field(
        24.0, gt=0, description="How far back the 'now' page reads events to find the current stay.")
    dashboard_mail_dir: Path | None = Field(
        None, description="A local Maildir whose e-mails get their own page (the demo's mail); default: the "
                          "Maildir of HOMETWIN_SMTP_URL when that is `maildir://`, else none.")
    ack_secret: str | None = Field(
        None, description="Key of the signed acknowledge links in the e-mails (same value for the "
                          "actuation and the dashboard); without it e-mail links are refused.")
    ack_secret_file: Path | None = Field(None, description="File holding the ack-link key.")
    clock: str = Field("real", description="`real`, or the demo's accelerated clock (see hometwin.clock).")

    def token(self) -> str | None:
        return read_secret(self.dashboard_token, self.dashboard_token_file)

    def password(self) -> str | None:
        return read_secret(self.dashboard_password, self.dashboard_password_file)

    def session_secret(self) -> str | None:
        return read_secret(self.dashboard_session_secret, self.dashboard_session_secret_file)

    def ack_key(self) -> str | None:
        return read_secret(self.ack_secret, self.ack_secret_file)


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
        None, description="State database URL, `sqlite:///abs/path.sqlite`; "
                          "default `<data_dir>/scheduler.sqlite`.")
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
        12, ge=1, description="Default delivery attempts before dead-lettering.")
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
        24.0, ge=0,
        description="Delivered invocations are deleted after this many hours (dead ones are kept).")
    scheduler_verify_tls: bool = Field(True, description="Verify TLS certificates of https:// functions.")
    scheduler_fast_io: bool = Field(
        True, description="Serve with uvloop and the httptools parser when installed (about 30 % more "
                          "events/s); false: asyncio's loop and the pure-Python h11 parser.")

    def state_url(self) -> str:
        return self.scheduler_state or f"sqlite:///{(self.data_dir / 'scheduler.sqlite').resolve()}"

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


class MonitoringSettings(CommonSettings):
    """The `monitoring` component: checks for emergencies and asks for training."""

    monitoring_check_every: str = Field(
        "* * * * *", description="How often to check: a cron spec or a Go-style duration such as '30s'.")
    monitoring_train_cron: str = Field(
        "0 3 * * 1", description="When to ask for a new model (cron, home time zone; default Monday 03:00).")
    monitoring_model_poll_s: float = Field(
        60.0, gt=0, description="Seconds between looks for a newer model version.")
    clock: str = Field("real", description="'real', or the demo's accelerated clock (set by `hometwin demo`).")


class ModelingSettings(CommonSettings):
    """The `modeling` component: trains and registers behaviour models."""

    modeling_window_days: float = Field(56.0, gt=0, description="Days of history each training uses.")
    modeling_min_days: float = Field(
        3.0, gt=0, description="Refuse to train on less history than this (days with data).")
    clock: str = Field("real", description="'real', or the demo's accelerated clock.")


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
    mail_retry_max: float = Field(300.0, gt=0, description="Longest retry delay, seconds.")

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
    alert_keep_resolved_days: float = Field(90.0, gt=0, description="Forget resolved alerts after this long.")
    ack_link_hours: float = Field(48.0, gt=0, description="How long an acknowledge link in an e-mail works.")

    def policy(self, caregivers: Sequence[str]) -> AlertPolicy:
        from hometwin.domain.alerts import AlertPolicy

        return AlertPolicy(repeat_every=timedelta(minutes=self.alert_repeat_minutes),
                           escalation=tuple(caregivers),
                           escalate_after=timedelta(minutes=self.alert_escalate_minutes),
                           warning_delay=timedelta(minutes=self.alert_warning_delay_minutes),
                           warning_repeat_every=timedelta(minutes=self.alert_warning_repeat_minutes),
                           keep_resolved=timedelta(days=self.alert_keep_resolved_days))

    @property
    def ack_link_lifetime(self) -> timedelta:
        return timedelta(hours=self.ack_link_hours)


class DetectionSettings(CommonSettings):
    """The detectors' knobs (`hometwin.domain.detection.DetectionParams`), explained in docs/detection.md.

    Limits are surprises, -log10 of how rare an observation is under the learned model (3 = 1 in 1,000);
    floors are minutes below which a detector never fires. Defaults equal `DetectionParams()`.
    """

    detect_silence_limit: float = Field(3.0, description="Unusual silence fires at this surprise.")
    detect_silence_floor_min: float = Field(
        20.0, ge=0, description="No silence alarm before this many minutes.")
    detect_stay_limit: float = Field(3.5, description="Prolonged stay fires at this surprise.")
    detect_stay_floor_min: float = Field(
        30.0, ge=0, description="No prolonged-stay alarm before this many minutes.")
    detect_room_floors: str = Field(
        "", description="Per-room stay floors in minutes, e.g. 'bathroom=40,bedroom=600'.")
    detect_few_samples: float = Field(
        10.0, ge=0, description="Widen the spread of a cell with n samples by sqrt(1 + this / n).")
    detect_stay_gap_slack: float = Field(
        2.0, ge=0, description="Pauses within a stay add their silence surprise above this (0: off).")
    detect_routine_limit: float = Field(
        2.0, description="Missing routine (no activity yet today) fires at this surprise.")
    detect_away_limit: float = Field(2.5, description="Not back home fires at this surprise.")
    detect_away_floor_min: float = Field(
        180.0, ge=0, description="No not-back-home warning before this many minutes.")
    detect_frequency_limit: float = Field(
        2.0, description="Unusual daily frequency (info only) at this surprise.")
    detect_frequency_min_excess: float = Field(
        2.0, ge=0, description="... and at least this many visits above the usual mean.")
    detect_source_error_after_min: float = Field(
        15.0, ge=0, description="Report a failing sensor source after this many minutes.")
    detect_dead_sensor_after_h: float = Field(
        24.0, ge=0, description="Daily sensors silent this many hours while others report are dead (0: off).")
    detect_dead_sensor_share: float = Field(
        0.75, gt=0, le=1, description="... when at least this share of the daily sensors is: data missing.")
    detect_daily_sensor_share: float = Field(
        0.7, gt=0, le=1, description="A daily sensor reported on at least this share of the training days.")
    detect_sensitivity: float = Field(
        0.0, description="Lowers every limit by this much: > 0 eager, < 0 conservative.")

    def params(self) -> DetectionParams:
        from hometwin.domain.detection import DetectionParams

        floors: dict[str, float] = {}
        for pair in filter(None, (p.strip() for p in self.detect_room_floors.split(","))):
            room, sep, minutes = pair.partition("=")
            try:
                value = float(minutes)
            except ValueError:
                value = -1.0
            if not sep or not room.strip() or value < 0:
                raise ValueError(f"HOMETWIN_DETECT_ROOM_FLOORS: {pair!r} is not room=minutes")
            floors[room.strip()] = value
        return DetectionParams(
            silence_limit=self.detect_silence_limit, silence_floor_min=self.detect_silence_floor_min,
            stay_limit=self.detect_stay_limit, stay_floor_min=self.detect_stay_floor_min,
            room_floor_min=floors, few_samples=self.detect_few_samples,
            stay_gap_slack=self.detect_stay_gap_slack,
            routine_limit=self.detect_routine_limit,
            away_limit=self.detect_away_limit, away_floor_min=self.detect_away_floor_min,
            frequency_limit=self.detect_frequency_limit,
            frequency_min_excess=self.detect_frequency_min_excess,
            source_error_after_min=self.detect_source_error_after_min,
            dead_sensor_after_h=self.detect_dead_sensor_after_h,
            dead_sensor_share=self.detect_dead_sensor_share,
            daily_sensor_share=self.detect_daily_sensor_share,
            sensitivity=self.detect_sensitivity)
