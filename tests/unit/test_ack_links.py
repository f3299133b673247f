"""Signed, expiring acknowledgement links (domain/ack_links.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hometwin.domain.ack_links import ack_url, read, sign, verify
from hometwin.domain.errors import ExpiredAckToken, InvalidAckToken

SECRET = "correct horse battery staple"
NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=48)


def test_genuine_token_verifies_to_its_alert() -> None:
    token = sign("a0123456789abcdef0123", LATER, SECRET)
    assert verify(token, SECRET, NOW) == "a0123456789abcdef0123"
    assert verify(token, SECRET.encode(), LATER - timedelta(seconds=1)) == "a0123456789abcdef0123"


def test_expired_token_is_refused() -> None:
    token = sign("a1", LATER, SECRET)
    with pytest.raises(ExpiredAckToken, match="expired"):
        verify(token, SECRET, LATER)
    with pytest.raises(InvalidAckToken):  # an expired token is also an invalid one
        verify(token, SECRET, LATER + timedelta(days=1))


def test_other_secret_is_refused() -> None:
    token = sign("a1", LATER, SECRET)
    with pytest.raises(InvalidAckToken, match="not genuine"):
        verify(token, "another secret of some length", NOW)


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("a1.", "a2.", 1),  # another alert
    lambda t: ".".join([t.split(".")[0], str(int(t.split(".")[1]) + 3600), t.split(".")[2]]),  # later expiry
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # flipped signature character
    lambda t: t.rsplit(".", 1)[0] + ".",  # no signature
    lambda t: t + ".x",
    lambda t: "",
    lambda t: "a1.notanumber." + t.split(".")[2],
    lambda t: "../../etc." + t.split(".", 1)[1],
    lambda t: t + "é",
])
def test_tampered_tokens_are_refused(tamper) -> None:
    token = sign("a1", LATER, SECRET)
    with pytest.raises(InvalidAckToken):
        verify(tamper(token), SECRET, NOW)


def test_short_secret_and_naive_times_are_errors() -> None:
    with pytest.raises(ValueError, match="at least"):
        sign("a1", LATER, "short")
    with pytest.raises(ValueError, match="timezone-aware"):
        sign("a1", datetime(2026, 3, 5), SECRET)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(sign("a1", LATER, SECRET), SECRET, datetime(2026, 3, 3))
    with pytest.raises(ValueError, match="not a valid id"):
        sign("a1/../x", LATER, SECRET)


def test_link_carries_the_token_unescaped() -> None:
    token = sign("a1", LATER, SECRET)
    url = ack_url("https://care.example.org/twin/", token)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "care.example.org", "/twin/ack")
    assert parse_qs(parts.query)["token"] == [token]


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.integers(min_value=1, max_value=10**6))
def test_any_valid_id_round_trips(alert_id: str, minutes: int) -> None:
    token = sign(alert_id, NOW + timedelta(minutes=minutes), SECRET)
    assert verify(token, SECRET, NOW) == alert_id


# -- version 2: the token names the episode ----------------------------------------------------

def test_token_names_the_episode_it_acknowledges() -> None:
    token = sign("a0123456789abcdef0123", LATER, SECRET, episode=2)
    assert token.startswith("a0123456789abcdef0123.2.")
    target = read(token, SECRET, NOW)
    assert (target.alert_id, target.episode, target.expires_at) == ("a0123456789abcdef0123", 2, LATER)
    assert verify(token, SECRET, NOW) == "a0123456789abcdef0123"


def test_a_version_1_token_has_no_episode() -> None:
    target = read(sign("a1", LATER, SECRET), SECRET, NOW)
    assert (target.alert_id, target.episode) == ("a1", None)


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("a1.1.", "a1.2.", 1),  # the link of episode 1 made into one for episode 2
    lambda t: t.replace("a1.1.", "a1.", 1),  # ... or into a version-1 token, for whichever episode
    lambda t: t.replace("a1.1.", "a1.01.", 1),
    lambda t: t.replace("a1.1.", "a1.0.", 1),
    lambda t: t.replace("a1.1.", "a1.1\n.", 1),
    lambda t: t.replace("a1.1.", "a1.x.", 1),
    lambda t: t.replace("a1.1.", "a1.1.1.", 1),
])
def test_the_episode_cannot_be_changed(tamper) -> None:
    token = sign("a1", LATER, SECRET, episode=1)
    with pytest.raises(InvalidAckToken):
        read(tamper(token), SECRET, NOW)


def test_a_version_1_token_cannot_be_made_into_a_version_2_one() -> None:
    old = sign("a1", LATER, SECRET)
    alert_id, rest = old.split(".", 1)
    with pytest.raises(InvalidAckToken, match="not genuine"):
        read(f"{alert_id}.1.{rest}", SECRET, NOW)


def test_episode_must_be_a_whole_number_from_1() -> None:
    for bad in (0, -1, True, 10**9, "2"):
        with pytest.raises(ValueError, match="episode"):
            sign("a1", LATER, SECRET, episode=bad)  # type: ignore[arg-type]


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.integers(min_value=1, max_value=10**9 - 1),
       st.integers(min_value=1, max_value=10**6))
def test_any_valid_id_and_episode_round_trip(alert_id: str, episode: int, minutes: int) -> None:
    token = sign(alert_id, NOW + timedelta(minutes=minutes), SECRET, episode=episode)
    target = read(token, SECRET, NOW)
    assert (target.alert_id, target.episode) == (alert_id, episode)
    assert len(token) <= 256  # the dashboard's limit on the query parameter
