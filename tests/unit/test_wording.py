import math

import pytest

from hometwin.domain.wording import duration_text


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5 s"), (59.4, "59 s"), (-3, "0 s"), (600, "10 min"), (52 * 60, "52 min"), (3600, "1 h"),
    (70 * 60, "1 h 10 min"), (7380, "2 h 3 min"), (3 * 3600, "3 h"), (50 * 3600, "2 days 2 h"),
    (72 * 3600, "3 days"), (math.nan, "–"), (math.inf, "–")])
def test_durations_read_like_a_caregiver_writes_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
