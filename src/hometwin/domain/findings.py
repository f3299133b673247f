"""What the detectors report: a finding with its evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    EMERGENCY = "emergency"  # notify a caregiver now
    WARNING = "warning"  # notify, less urgent
    INFO = "info"  # report only (daily summary, dashboard)


class FindingKind(StrEnum):
    PROLONGED_STAY = "prolonged_stay"
    UNUSUAL_SILENCE = "unusual_silence"
    MISSING_ROUTINE = "missing_routine"
    NOT_BACK_HOME = "not_back_home"
    UNUSUAL_FREQUENCY = "unusual_frequency"
    SENSOR_DATA_MISSING = "sensor_data_missing"
    SENSOR_STUCK = "sensor_stuck"


# Findings about the person (not the sensors): a fall shows as several of them, one incident.
PERSON_KINDS = (FindingKind.UNUSUAL_SILENCE, FindingKind.PROLONGED_STAY, FindingKind.MISSING_ROUTINE)
# Findings about the installation: "check the sensors", not "check the person". Their limits are
# their own (minutes, hours), not surprises, so the sensitivity does not move them.
TECHNICAL_KINDS = (FindingKind.SENSOR_DATA_MISSING, FindingKind.SENSOR_STUCK)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's verdict at one moment.

    `started_at` is when the unusual condition began (the start of the stay, the last event
    before the silence, ...). Together with kind and room it identifies the incident, so the
    same ongoing situation seen at many checks gives one alert.
    `observed`, `expected` and `threshold` are seconds for durations and counts for frequencies;
    `percentile` is where `observed` falls in the learned distribution (0..100).
    """

    kind: FindingKind
    severity: Severity
    room: str | None
    started_at: datetime
    observed: float
    expected: float
    threshold: float
    percentile: float
    message: str

    @property
    def incident_key(self) -> str:
        return f"{self.kind.value}:{self.room or '-'}:{self.started_at.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["severity"] = self.severity.value
        d["started_at"] = self.started_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            kind=FindingKind(d["kind"]),
            severity=Severity(d["severity"]),
            room=d.get("room"),
            started_at=datetime.fromisoformat(d["started_at"]),
            observed=float(d["observed"]),
            expected=float(d["expected"]),
            threshold=float(d["threshold"]),
            percentile=float(d["percentile"]),
            message=str(d["message"]),
        )
