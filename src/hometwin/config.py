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
