"""What the SDK reads from the environment, with the course's variable names where they exist.

Read when a fabric or gateway is constructed (as sifec_base did), never at import time.
docs/sdk.md lists every variable with its default.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hometwin.dispatch_signature import check_secret


class SdkSettings(BaseSettings):
    """Settings of a component built on `hometwin.sdk`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True)

    scheduler: str | None = Field(
        None, validation_alias="SCH_SERVICE_NAME",
        description="Scheduler address (`host:port` or URL). Unset: debugging mode, nothing is sent.")
    token: SecretStr | None = Field(
        None, validation_alias="HOMETWIN_SCHEDULER_TOKEN",
        description="Bearer token sent to the scheduler when set.")
    token_file: Path | None = Field(
        None, validation_alias="HOMETWIN_SCHEDULER_TOKEN_FILE",
        description="File holding the token (wins over HOMETWIN_SCHEDULER_TOKEN; e.g. a mounted Secret).")
    dispatch_secret: SecretStr | None = Field(
        None, validation_alias="HOMETWIN_DISPATCH_SECRET",
        description="The scheduler's dispatch secret: functions then accept only invocations it signed, and "
                    "every other route but /healthz, /readyz and /metrics needs `Authorization: Bearer <it>`.")
    dispatch_secret_file: Path | None = Field(
        None, validation_alias="HOMETWIN_DISPATCH_SECRET_FILE",
        description="File holding the dispatch secret (wins over the variable; an empty file is an error).")
    public_url: str | None = Field(
        None, validation_alias="PUBLIC_URL",
        description="Base URL the scheduler calls this component at, e.g. `http://monitoring:8000`.")
    host: str | None = Field(
        None, validation_alias=AliasChoices("HOST", "UVICORN_HOST"),
        description="Address the component listens on; used for the callback URL when specific.")
    port: int | None = Field(
        None, ge=1, le=65535, validation_alias=AliasChoices("PORT", "UVICORN_PORT"),
        description="Port the component listens on (uvicorn reads UVICORN_PORT too); default 8000.")
    tz: str = Field("Europe/Berlin", validation_alias="HOMETWIN_TZ",
                    description="Time zone of cron triggers (the home's zone).")
    verify_tls: bool = Field(True, validation_alias="HOMETWIN_SDK_VERIFY_TLS",
                             description="Verify the scheduler's TLS certificate.")
    http_timeout: float = Field(10.0, gt=0, validation_alias="HOMETWIN_SDK_HTTP_TIMEOUT",
                                description="Seconds per HTTP request to the scheduler.")
    retries: int = Field(5, ge=0, validation_alias="HOMETWIN_SDK_RETRIES",
                         description="Retries of an event before it goes to the local queue.")
    backoff_initial: float = Field(0.5, ge=0, validation_alias="HOMETWIN_SDK_BACKOFF_INITIAL",
                                   description="First retry delay in seconds (doubles each retry).")
    backoff_max: float = Field(10.0, ge=0, validation_alias="HOMETWIN_SDK_BACKOFF_MAX",
                               description="Cap of the retry delay in seconds.")
    queue_size: int = Field(100, ge=1, validation_alias="HOMETWIN_SDK_QUEUE_SIZE",
                            description="Undeliverable events kept locally (oldest dropped, logged).")
    queue_retry_interval: float = Field(
        30.0, gt=0, validation_alias="HOMETWIN_SDK_QUEUE_RETRY_INTERVAL",
        description="Seconds between attempts to deliver the local queue.")
    status_interval: float = Field(
        30.0, gt=0, validation_alias="HOMETWIN_SDK_STATUS_INTERVAL",
        description="Seconds between checks that the scheduler still knows our functions.")

    @field_validator("scheduler", "public_url", "host", "token", "token_file", "port", "dispatch_secret",
                     "dispatch_secret_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    @property
    def scheduler_url(self) -> str | None:
        """The scheduler's base URL with a scheme (`http://` added when missing), no trailing slash."""
        return with_scheme(self.scheduler) if self.scheduler else None

    def bearer(self) -> str | None:
        """The token, read from the token file when one is configured (so a rotated Secret applies)."""
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        return self.token.get_secret_value() if self.token else None

    def dispatch_key(self) -> str | None:
        """The checked dispatch secret (the file wins), None when unset; ValueError naming the
        variable when it is unusable (unreadable or empty file, too short, a placeholder)."""
        if self.dispatch_secret_file is not None:
            try:
                secret = self.dispatch_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read the dispatch secret file {self.dispatch_secret_file}: "
                                 f"{exc.strerror or exc}") from None
            if not secret:
                raise ValueError(f"the dispatch secret file {self.dispatch_secret_file} is empty")
            return check_secret(secret, "HOMETWIN_DISPATCH_SECRET_FILE")
        if self.dispatch_secret is None or not self.dispatch_secret.get_secret_value():
            return None
        return check_secret(self.dispatch_secret.get_secret_value().strip(), "HOMETWIN_DISPATCH_SECRET")

    def headers(self) -> dict[str, str]:
        token = self.bearer()
        return {"Authorization": f"Bearer {token}"} if token else {}


def with_scheme(address: str) -> str:
    address = address.strip().rstrip("/")
    return address if "://" in address else f"http://{address}"
