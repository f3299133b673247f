"""Write a simulated home as CASAS-format files that `hometwin import --format casas` reads back.

Three files per home in a folder: `<name>.txt` (one event a line, local wall-clock time of the home),
`<name>.rooms.csv` (the room mapping `sensor,room,kind`) and `<name>.json` (ground truth and what
was drawn). Like every CASAS file the times are local and carry no offset, so the repeated hour of
an autumn clock change is ambiguous: the importer reads it as the first pass.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.sim.population import SimulatedHome

_OPEN_CLOSE = (SensorKind.DOOR, SensorKind.CONTACT)


def casas_line(event: SensorEvent, zone: ZoneInfo) -> str:
    local = event.time.astimezone(zone)
    if event.value in (0.0, 1.0):
        on, off = ("OPEN", "CLOSE") if event.kind in _OPEN_CLOSE else ("ON", "OFF")
        value = on if event.value == 1.0 else off
    else:
        value = repr(event.value)
    return f"{local:%Y-%m-%d %H:%M:%S.%f} {event.sensor} {value}"


def write_casas(home: SimulatedHome, folder: Path) -> tuple[Path, Path, Path]:
    """The data file, the room mapping and the ground truth of `home`, written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(home.tz)
    data, rooms, truth = (folder / f"{home.name}.txt", folder / f"{home.name}.rooms.csv",
                          folder / f"{home.name}.json")
    data.write_text("".join(casas_line(e, zone) + "\n" for e in home.events), encoding="utf-8")
    mapping = io.StringIO()
    writer = csv.writer(mapping, lineterminator="\n")
    writer.writerow(["sensor", "room", "kind"])
    writer.writerows([spec.name, room, spec.kind.value] for room, spec in home.layout.all_sensors())
    rooms.write_text(mapping.getvalue(), encoding="utf-8")
    truth.write_text(json.dumps(home.to_dict(), indent=1), encoding="utf-8")
    return data, rooms, truth
