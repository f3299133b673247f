"""Settings, one class per service, read from the environment (and `.env`).

Every setting has an environment variable (`HOMETWIN_<NAME>` unless a course name is kept, such as
`SCH_SERVICE_NAME`) and a default that runs on a fresh machine without any server.
docs/configuration.md lists them all; `tests/unit/test_config_docs.py` checks that it does.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where embedded stores live: $XDG_DATA_HOME/hometwin, else ~/.local/share/hometwin."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hometwin"


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
    ack_secret: str | None = Field(
        None, description="Key of the signed acknowledge links in the e-mails (same value for the "
                          "actuation and the dashboard); without it e-mail links are refused.")
    ack_secret_file: Path | None = Field(None, description="File holding the ack-link key.")
    clock: str = Field("real", description="`real`, or the demo's accelerated clock (see hometwin.clock).")

    @staticmethod
    def _secret(value: str | None, path: Path | None) -> str | None:
        if path is not None:
            return path.read_text(encoding="utf-8").strip() or None
        return value or None

    def token(self) -> str | None:
        return self._secret(self.dashboard_token, self.dashboard_token_file)

    def password(self) -> str | None:
        return self._secret(self.dashboard_password, self.dashboard_password_file)

    def session_secret(self) -> str | None:
        return self._secret(self.dashboard_session_secret, self.dashboard_session_secret_file)

    def ack_key(self) -> str | None:
        return self._secret(self.ack_secret, self.ack_secret_file)
