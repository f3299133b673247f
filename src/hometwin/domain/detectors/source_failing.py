"""Sensor data missing, from the source: it has reported errors for longer than a limit.

The monitoring passes `source_error_since` when reading the events fails; silence alone cannot
tell a fall from a dead gateway, so this finding says it is technical.
"""

from __future__ import annotations

from dataclasses import dataclass

from hometwin.domain.detectors.base import Assessment, Situation, knob
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.wording import duration_text


@dataclass(frozen=True)
class SourceFailingParams:
    source_error_after_min: float = knob(15.0, "Report a failing sensor source after this many minutes.", ge=0)


class SourceFailing:
    name = "source_failing"
    kind = FindingKind.SENSOR_DATA_MISSING
    params = SourceFailingParams

    def assess(self, situation: Situation) -> list[Assessment]:
        since = situation.source_error_since
        if since is None:
            return []
        minutes = (situation.now - since).total_seconds() / 60
        limit = situation.params.source_error_after_min
        message = (f"No data from the sensor source for {duration_text(minutes * 60)} (it reports errors). "
                   "This is a technical problem (gateway, network or database), not necessarily the person: "
                   "please check the installation, and the person if you cannot reach the sensors.")
        finding = Finding(FindingKind.SENSOR_DATA_MISSING, Severity.WARNING, None, since, observed=minutes * 60,
                          expected=0.0, threshold=limit * 60, percentile=100.0, message=message)
        return [Assessment(finding, minutes, limit)]
