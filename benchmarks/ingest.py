"""MQTT ingest benchmark: sustained messages/s into the store, and publish-to-visible latency.

    .venv/bin/python benchmarks/ingest.py [--messages 20000] [--samples 500] [--sinks sqlite,influx]

A real mosquitto broker on 127.0.0.1 (tests/servers.py) and the ingest as it runs in production
(services/ingest.py: paho subscriber, durable buffer with synchronous=FULL, flusher), in this process.
- Rate: a separate publisher process sends `--messages` Zigbee2MQTT motion messages (QoS 1, up to
  1000 in flight) as fast as the broker takes them; the rate is messages / (last event stored -
  first publish). Every message must arrive: the count is checked.
- Backlog: `--messages` published while the ingest is stopped (the broker queues them in its
  session), then the time from starting the ingest to the last one stored: the ingest's own ceiling.
- Latency: `--samples` messages one at a time (every 20 ms); for each, the time from publish to the
  event being readable from the store by another connection, as the monitoring reads it (SQLite:
  `latest()` polled every 0.5 ms). For the InfluxDB write path (VictoriaMetrics standing in for
  InfluxDB, DESIGN.md section 7) "visible" means the write API accepted it; VictoriaMetrics itself
  makes points searchable about a second later, InfluxDB at once.
Prints a Markdown table (docs/home-assistant.md holds a run's output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.servers import MosquittoServer, start_mosquitto, start_victoria, victoria_binary, wait_until  # noqa: E402

from hometwin.adapters.sqlite import SQLiteEventStore  # noqa: E402
from hometwin.components.wiring import build_ingest  # noqa: E402
from hometwin.config import IngestSettings, SourceSettings  # noqa: E402
from hometwin.services.ingest import IngestService  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SENSORS = 10
MAPPING = "sensors:\n" + "".join(f"  - topic: zigbee2mqtt/motion_{i}\n    room: room_{i}\n    kind: motion\n"
                                 for i in range(SENSORS))
PUBLISHER = """
import json, sys, time
from datetime import datetime, timedelta, timezone
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, n, sensors, offset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t0 = datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(days=offset)
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
client.max_inflight_messages_set(1000)
client.max_queued_messages_set(0)
client.connect(host, port)
client.loop_start()
start = time.time()
infos = [client.publish(f"zigbee2mqtt/motion_{i % sensors}", json.dumps(
    {"occupancy": True, "battery": 90, "linkquality": 110,
     "last_seen": (t0 + timedelta(milliseconds=i)).isoformat()}), qos=1) for i in range(n)]
for info in infos:
    info.wait_for_publish(60)
published = time.time()
client.disconnect(); client.loop_stop()
print(json.dumps({"start": start, "published": published}))
"""


def make_ingest(workdir: Path, broker: MosquittoServer, events: str, sources: SourceSettings) -> IngestService:
    (workdir / "mapping.yaml").write_text(MAPPING)
    settings = IngestSettings(mqtt_url=broker.url, mqtt_client_id=f"bench-{workdir.name}",
                              ingest_mapping=workdir / "mapping.yaml", ingest_buffer=workdir / "buffer.sqlite",
                              data_dir=workdir)
    return build_ingest(settings, sources, events_url=events)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rate(service: IngestService, broker: MosquittoServer, n: int, offset: int) -> tuple[float, float]:
    """(messages/s into the store, messages/s the publisher got acknowledged by the broker)."""
    before = service.counts.get("stored", 0)
    out = subprocess.run([sys.executable, "-c", PUBLISHER, broker.host, str(broker.port), str(n), str(SENSORS),
                          str(offset)], capture_output=True, text=True, timeout=600, check=True)
    times = json.loads(out.stdout)
    wait_until(lambda: service.counts.get("stored", 0) - before >= n, 600, interval=0.005, what=f"{n} stored")
    done = time.time()
    return n / (done - times["start"]), n / (times["published"] - times["start"])


def latency(service: IngestService, broker: MosquittoServer, samples: int, offset: int,
            visible: Callable[[datetime], bool]) -> list[float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-latency", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    t0 = T0 + timedelta(days=offset)
    out = []
    for i in range(samples):
        when = t0 + timedelta(seconds=i)
        payload = json.dumps({"occupancy": True, "last_seen": when.isoformat()})
        start = time.perf_counter()
        client.publish(f"zigbee2mqtt/motion_{i % SENSORS}", payload, qos=1)
        while not visible(when):
            time.sleep(0.0005)
        out.append(time.perf_counter() - start)
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    return out


def run_sink(name: str, workdir: Path, broker: MosquittoServer, events: str, sources: SourceSettings,
             args: argparse.Namespace, visible_factory: Callable[[IngestService], Callable[[datetime], bool]]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    service = make_ingest(workdir, broker, events, sources)
    service.start()
    wait_until(lambda: service.connected, 15, what="ingest connected")
    time.sleep(0.5)  # the subscription is in place
    try:
        rate(service, broker, min(1000, args.messages), offset=0)  # warm-up
        rates = [rate(service, broker, args.messages, offset=1 + r) for r in range(args.repeat)]
        lat = latency(service, broker, args.samples, offset=50, visible=visible_factory(service))
    finally:
        service.stop()
    # A backlog: published while the ingest is away (the broker queues it in the session), then
    # drained; this is the ingest's own ceiling, not the publisher's.
    subprocess.run([sys.executable, "-c", PUBLISHER, broker.host, str(broker.port), str(args.messages),
                    str(SENSORS), "100"], capture_output=True, text=True, timeout=600, check=True)
    service = make_ingest(workdir, broker, events, sources)
    start = time.time()
    service.start()
    try:
        wait_until(lambda: service.counts.get("stored", 0) >= args.messages, 600, interval=0.005, what="backlog")
        drained = args.messages / (time.time() - start)
    finally:
        service.stop()
    into = statistics.median(r[0] for r in rates)
    broker_only = statistics.median(r[1] for r in rates)
    ms = [x * 1000 for x in lat]
    print(f"| {name} | {into:,.0f} (min {min(r[0] for r in rates):,.0f}) | {broker_only:,.0f} | {drained:,.0f} | "
          f"{percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {max(ms):.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--sinks", default="sqlite,influx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hometwin-ingest-bench-") as tmp:
        workdir = Path(tmp)
        broker = start_mosquitto(workdir / "mosquitto")
        print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{args.messages} messages x {args.repeat}, {args.samples} latency samples\n")
        print("| store | live rate, messages/s (median) | publisher alone, messages/s | backlog drain, messages/s | "
              "latency p50, ms | p99, ms | max, ms |")
        print("|---|---|---|---|---|---|---|")
        try:
            if "sqlite" in args.sinks:
                path = workdir / "sqlite" / "events.sqlite"
                reader = SQLiteEventStore(path)  # another connection, as the monitoring's

                def sqlite_visible(service: IngestService) -> Callable[[datetime], bool]:
                    def check(when: datetime) -> bool:
                        latest = reader.latest()
                        return latest is not None and latest.time >= when
                    return check

                run_sink("SQLite (embedded)", workdir / "sqlite", broker, f"sqlite:///{path}",
                         SourceSettings(data_dir=workdir), args, sqlite_visible)
            if "influx" in args.sinks and victoria_binary() is not None:
                victoria = start_victoria(workdir / "victoria")
                try:
                    def accepted(service: IngestService) -> Callable[[datetime], bool]:
                        base = [service.counts.get("stored", 0)]

                        def check(when: datetime) -> bool:
                            stored = service.counts.get("stored", 0)
                            if stored > base[0]:
                                base[0] = stored
                                return True
                            return False
                        return check

                    sources = SourceSettings(data_dir=workdir, influxdb_org="o", influxdb_token="t",
                                             influxdb_write_bucket="hometwin")
                    run_sink("InfluxDB write API (VictoriaMetrics)", workdir / "influx", broker, victoria.url,
                             sources, args, accepted)
                finally:
                    victoria.process.stop()
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
