"""Go-style durations (`300ms`, `30s`, `1m`, `1h30m`, `1.5h`) as used by the course's older triggers."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a positive Go duration; raise ValueError naming the text otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '30s' or '1h30m', got {text!r}")
    spec = text.strip()
    pos, seconds = 0, 0.0
    for match in _PART.finditer(spec):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not spec or pos != len(spec):
        raise ValueError(
            f"invalid duration {text!r}: expected Go syntax such as '300ms', '30s', '5m', '1h30m' "
            "(units ns, us, ms, s, m, h)")
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return timedelta(seconds=seconds)
