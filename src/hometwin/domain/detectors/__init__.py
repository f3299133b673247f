"""The detectors, one module each, and the one place that registers them.

Every detector follows `base.Detector`: a `name`, the `kind` of finding it reports, its `params`
(a frozen dataclass of `knob` fields) and `assess(situation)`. domain/detection.py runs every
detector of `DETECTORS`, in this order (the order of the findings), on one `Situation`.

To add a detector: write its module (its params dataclass and its class), register it below (in
`DETECTORS` and as a base of `DetectionParams`), test it (tests/unit/test_detectors.py runs the
generic checks on it by itself) and describe it in docs/detection.md. Its knobs then appear in the
settings (`HOMETWIN_DETECT_<NAME>`) and in docs/configuration.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hometwin.domain.detectors.base import Assessment, Detector, SharedParams, Situation
from hometwin.domain.detectors.dead_sensors import DeadSensors, DeadSensorsParams
from hometwin.domain.detectors.missing_routine import MissingRoutine, MissingRoutineParams
from hometwin.domain.detectors.not_back_home import NotBackHome, NotBackHomeParams
from hometwin.domain.detectors.prolonged_stay import ProlongedStay, ProlongedStayParams
from hometwin.domain.detectors.silent_sensor import SilentSensor, SilentSensorParams
from hometwin.domain.detectors.source_failing import SourceFailing, SourceFailingParams
from hometwin.domain.detectors.stuck_sensor import StuckSensor, StuckSensorParams
from hometwin.domain.detectors.unusual_frequency import UnusualFrequency, UnusualFrequencyParams
from hometwin.domain.detectors.unusual_silence import UnusualSilence, UnusualSilenceParams

__all__ = ["DETECTORS", "Assessment", "DetectionParams", "Detector", "SharedParams", "Situation"]

DETECTORS: tuple[Detector, ...] = (
    SourceFailing(), NotBackHome(), DeadSensors(), SilentSensor(), StuckSensor(), UnusualSilence(), ProlongedStay(),
    MissingRoutine(), UnusualFrequency(),
)


# A dataclass lists its bases' fields from the last base to the first: the settings and
# docs/configuration.md show them in that order (silence first, the shared knobs last).
@dataclass(frozen=True)
class DetectionParams(SharedParams, StuckSensorParams, SilentSensorParams, DeadSensorsParams, SourceFailingParams,
                      UnusualFrequencyParams, NotBackHomeParams, MissingRoutineParams, ProlongedStayParams,
                      UnusualSilenceParams):
    """Every knob of the detectors (JSON-able): each detector's params plus the shared ones.

    docs/detection.md explains each default. Limits are surprises (-log10 tail probability); floors
    are minutes below which a detector stays silent whatever the model says.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectionParams:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown detection parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)
