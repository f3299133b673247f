"""The one place that reads the wall clock.

Real time in production. The demo runs the home in accelerated time: every process computes the
same simulated "now" from one setting,
`HOMETWIN_CLOCK=accelerated:<sim start ISO>@<speed>@<real start epoch s>`,
so the scheduler's components and the dashboard agree without talking to each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Clock:
    """`now()` is `sim_start + speed * (real now - real_start)`; the real clock has speed 1 and no offset."""

    sim_start: datetime | None = None
    speed: float = 1.0
    real_start: float = 0.0

    def now(self) -> datetime:
        if self.sim_start is None:
            return datetime.now(UTC)
        return self.sim_start + timedelta(seconds=(time.time() - self.real_start) * self.speed)

    def real_seconds(self, simulated: timedelta) -> float:
        """How long a simulated span takes in real seconds."""
        return simulated.total_seconds() / self.speed

    @property
    def accelerated(self) -> bool:
        return self.sim_start is not None

    def spec(self) -> str:
        if self.sim_start is None:
            return "real"
        return f"accelerated:{self.sim_start.isoformat()}@{self.speed:g}@{self.real_start:.3f}"

    @classmethod
    def parse(cls, spec: str | None) -> Clock:
        if not spec or spec == "real":
            return cls()
        try:
            kind, rest = spec.split(":", 1)
            start, speed, real = rest.rsplit("@", 2)
            if kind != "accelerated":
                raise ValueError(kind)
            sim_start = datetime.fromisoformat(start)
            if sim_start.tzinfo is None:
                raise ValueError("naive start")
            clock = cls(sim_start, float(speed), float(real))
        except ValueError:
            raise ValueError(
                f"HOMETWIN_CLOCK={spec!r} is not 'real' or "
                "'accelerated:<aware ISO start>@<speed>@<real start epoch seconds>'") from None
        if clock.speed <= 0:
            raise ValueError(f"HOMETWIN_CLOCK speed must be positive, got {clock.speed}")
        return clock

    @classmethod
    def accelerate(cls, sim_start: datetime, speed: float) -> Clock:
        return cls(sim_start, speed, time.time())
