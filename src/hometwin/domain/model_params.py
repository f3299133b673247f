"""The behaviour model's knobs and its level tables: a leaf that training, comparison and the model
itself share, so none of them has to import the model to name its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hometwin.domain.silence import SilenceParams
from hometwin.domain.stays import StayParams

Levels = dict[str, Mapping[str, Any]]  # level name -> cell key -> Sketch | CountStats (a parsed model's packed)


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Knobs of the behaviour model (JSON-able; stored with every model)."""

    bin_minutes: int = 60  # time-of-day bin width; must divide 24 h
    prior_strength: float = 10.0  # k of the shrinkage: a cell with k samples is half its own, half its parent
    outlier_k: float = 3.0  # winsorise beyond median * exp(+-k * robust sigma) (see distributions.py)
    min_exposure: float = 0.5  # a bin / night / day counts when at least this share was observed
    night_start_hour: int = 23  # night is 23:00-07:00 local, as in detection and the evaluation
    night_end_hour: int = 7
    day_start_hour: int = 4  # the day's first activity is the first presence event after this hour
    stays: StayParams = field(default_factory=StayParams)
    silence: SilenceParams = field(default_factory=SilenceParams)

    def __post_init__(self) -> None:
        if not isinstance(self.bin_minutes, int) or self.bin_minutes <= 0 or 1440 % self.bin_minutes:
            raise ValueError(f"bin_minutes must divide 1440, got {self.bin_minutes!r}")
        if self.prior_strength < 0 or self.outlier_k <= 0 or not 0 < self.min_exposure <= 1:
            raise ValueError("prior_strength >= 0, outlier_k > 0 and 0 < min_exposure <= 1 are required")
        for name in ("night_start_hour", "night_end_hour", "day_start_hour"):
            if not 0 <= getattr(self, name) < 24:
                raise ValueError(f"{name} must be an hour 0..23")
        if self.night_end_hour >= self.night_start_hour:
            raise ValueError("night must span midnight (night_end_hour < night_start_hour)")

    @property
    def bins(self) -> int:
        return 1440 // self.bin_minutes

    def to_dict(self) -> dict[str, Any]:
        return {"bin_minutes": self.bin_minutes, "prior_strength": self.prior_strength,
                "outlier_k": self.outlier_k, "min_exposure": self.min_exposure,
                "night_start_hour": self.night_start_hour, "night_end_hour": self.night_end_hour,
                "day_start_hour": self.day_start_hour, "stays": self.stays.to_dict(),
                "silence": self.silence.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelParams:
        default = cls()
        return cls(bin_minutes=int(d.get("bin_minutes", default.bin_minutes)),
                   prior_strength=float(d.get("prior_strength", default.prior_strength)),
                   outlier_k=float(d.get("outlier_k", default.outlier_k)),
                   min_exposure=float(d.get("min_exposure", default.min_exposure)),
                   night_start_hour=int(d.get("night_start_hour", default.night_start_hour)),
                   night_end_hour=int(d.get("night_end_hour", default.night_end_hour)),
                   day_start_hour=int(d.get("day_start_hour", default.day_start_hour)),
                   stays=StayParams.from_dict(d.get("stays", {})),
                   silence=SilenceParams.from_dict(d.get("silence", {})))
