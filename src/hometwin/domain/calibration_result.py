"""What a per-home calibration found (domain/calibration.py): a leaf the model document can hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Calibration:
    """Limit shifts per detector (added to its limit) and the figures they come from."""

    budget: float  # alarms per day for the whole home
    shifts: dict[str, float] = field(default_factory=dict)
    days: float = 0.0  # held-out days replayed
    folds: int = 0
    at_default: dict[str, int] = field(default_factory=dict)  # false-alarm episodes at shift 0
    at_shift: dict[str, int] = field(default_factory=dict)  # ... at the chosen shifts
    prior_days: float = 0.0  # the weight of the prior (domain/calibration_prior.py), in days
    shares: dict[str, float] = field(default_factory=dict)  # each detector's part of the budget

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "shifts": dict(self.shifts), "days": round(self.days, 2),
                "folds": self.folds, "false_alarms_at_default": dict(self.at_default),
                "false_alarms_at_shift": dict(self.at_shift),
                "prior_days": self.prior_days, "shares": dict(self.shares)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(float(d["budget"]), {str(k): float(v) for k, v in d.get("shifts", {}).items()},
                   float(d.get("days", 0.0)), int(d.get("folds", 0)),
                   {str(k): int(v) for k, v in d.get("false_alarms_at_default", {}).items()},
                   {str(k): int(v) for k, v in d.get("false_alarms_at_shift", {}).items()},
                   float(d.get("prior_days", 0.0)),
                   {str(k): float(v) for k, v in d.get("shares", {}).items()})
