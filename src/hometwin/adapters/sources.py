"""Open an event source (or sink) from a URL; the scheme chooses the backend.

- `sqlite:///abs/path.sqlite`: the embedded store (default `<data_dir>/events.sqlite`)
- `memory://[name]`: in-process, shared by name
- `influxdb://host:port` (plain HTTP), `http://host:port`, `https://host:port`: InfluxDB v2, course layout
Nothing connects here: backends connect on first use. The caller passes the InfluxDB options
explicitly (components/wiring.py `open_events` builds them from the settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hometwin.ports import SensorSink, SensorSource
from hometwin.sqlite_url import sqlite_path

if TYPE_CHECKING:
    from hometwin.adapters.influx import InfluxOptions

SCHEMES = ("sqlite", "memory", "influxdb", "http", "https")


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"event URL {url!r}: unknown scheme {scheme!r}; use one of "
                         "sqlite:///path, memory://, influxdb://host:port, http(s)://host:port")
    return scheme


def influx_url(url: str, default_host: str | None = None) -> str:
    """The HTTP(S) base URL of the InfluxDB server named by an events URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https"):
        return f"{parts.scheme.lower()}://{parts.netloc}"
    if parts.netloc:
        return f"http://{parts.netloc}"
    if default_host:
        return default_host if "://" in default_host else f"http://{default_host}"
    raise ValueError(f"event URL {url!r} names no host; give influxdb://host:port or set INFLUXDB_HOST")


def open_source(url: str, influx: InfluxOptions | None = None, influx_host: str | None = None) -> SensorSource:
    """The source behind `url`; `influx_host` is the server of an `influxdb://` URL without a host."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        from hometwin.adapters.sqlite import SQLiteEventStore

        return SQLiteEventStore(sqlite_path(url, "event"))
    if scheme == "memory":
        from hometwin.adapters.memory_source import MemoryEventStore

        return MemoryEventStore.named(urlsplit(url).netloc or "default")
    from hometwin.adapters.influx import InfluxSource

    return InfluxSource(influx_url(url, influx_host), influx)


def open_sink(url: str, influx: InfluxOptions | None = None, influx_host: str | None = None) -> SensorSink:
    """Where `hometwin import/simulate --to URL` writes: the same stores, or the InfluxDB writer."""
    if _scheme(url) in ("sqlite", "memory"):
        source = open_source(url)
        assert isinstance(source, SensorSink)
        return source
    from hometwin.adapters.influx import InfluxWriter

    return InfluxWriter(influx_url(url, influx_host), influx)

