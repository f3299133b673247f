"""How fast `hometwin import --format home-assistant` reads a recorder database (rows per second).

Builds a recorder database from the fixture DDL (tests/fixtures/home_assistant/schema_52.sql) with
`--rows` state rows over a year: 80 % from ten binary sensors (motion, occupancy, doors, alternately
on and off), 20 % from temperature sensors the import ignores, as a real database mixes them. Then
times, separately, reading it (`load_home_assistant`, the part this format adds) and writing the
events into a fresh embedded SQLite store (what `hometwin import` does next), and prints the figures
for docs/data.md.

    .venv/bin/python benchmarks/home_assistant_import.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the database builder lives with the tests' fixture
from tests.fixtures.home_assistant.recorder_db import RecorderDb  # noqa: E402

from hometwin.adapters.home_assistant import load_home_assistant  # noqa: E402
from hometwin.adapters.sqlite import SQLiteEventStore  # noqa: E402

BINARY = [(f"binary_sensor.{room}_motion", {"device_class": "motion", "friendly_name": f"{room.title()} Motion"})
          for room in ("kitchen", "bathroom", "bedroom", "livingroom", "hall", "office")]
BINARY += [("binary_sensor.toilet_occupancy", {"device_class": "occupancy", "friendly_name": "Toilet"}),
           ("binary_sensor.front_door", {"device_class": "door", "friendly_name": "Front Door"}),
           ("binary_sensor.bathroom_door", {"device_class": "door", "friendly_name": "Bathroom Door"}),
           ("binary_sensor.bedroom_window", {"device_class": "window", "friendly_name": "Bedroom Window"})]
OTHERS = [(f"sensor.{room}_temperature", {"device_class": "temperature", "unit_of_measurement": "°C"})
          for room in ("kitchen", "bedroom", "livingroom")]
START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
YEAR = 365 * 86400.0


def build(path: Path, rows: int, seed: int = 0) -> int:
    """Write the database; returns how many of its rows are binary-sensor rows."""
    rng = random.Random(seed)
    db = RecorderDb(path)
    step = YEAR / rows
    state = dict.fromkeys((e for e, _ in BINARY), "off")
    batch: list[tuple[str, str, float, dict[str, str]]] = []
    for i in range(rows):
        ts = START + i * step + rng.random() * step * 0.5
        if rng.random() < 0.8:
            entity, attrs = BINARY[rng.randrange(len(BINARY))]
            state[entity] = "on" if state[entity] == "off" else "off"
            batch.append((entity, state[entity], ts, attrs))
        else:
            entity, attrs = OTHERS[rng.randrange(len(OTHERS))]
            batch.append((entity, f"{rng.uniform(17, 24):.1f}", ts, attrs))
        if len(batch) == 100_000:
            db.write_many(batch)
            batch.clear()
    db.write_many(batch)
    db.close()
    return binary_rows(path)


def binary_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM states JOIN states_meta USING (metadata_id) "
                              "WHERE states_meta.entity_id LIKE 'binary_sensor.%'").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="state rows in the recorder database")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "home-assistant_v2.db"
        t0 = time.perf_counter()
        imported = build(db, args.rows)
        print(f"built {args.rows:,} state rows ({db.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        reads: list[float] = []
        writes: list[float] = []
        for run in range(args.repeat):
            t0 = time.perf_counter()
            result = load_home_assistant(db)
            reads.append(time.perf_counter() - t0)
            store_path = Path(tmp) / f"events-{run}.sqlite"
            t0 = time.perf_counter()
            with SQLiteEventStore(store_path) as store:
                for i in range(0, len(result.events), 50_000):  # the batches `hometwin import` writes
                    store.append(result.events[i:i + 50_000])
            writes.append(time.perf_counter() - t0)
        read, write = statistics.median(reads), statistics.median(writes)
        print(f"read: {read:.2f} s median of {args.repeat} ({min(reads):.2f}-{max(reads):.2f}) = "
              f"{args.rows / read:,.0f} database rows/s, {imported / read:,.0f} binary-sensor rows/s; "
              f"{len(result.events):,} events")
        print(f"write into a fresh SQLite store: {write:.2f} s = {len(result.events) / write:,.0f} events/s")
        print(f"import end to end: {read + write:.2f} s = {args.rows / (read + write):,.0f} database rows/s; "
              f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
