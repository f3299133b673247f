"""The dispatch signature rule (hometwin/dispatch_signature.py) and where both sides read the secret."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from hometwin.config import SchedulerSettings
from hometwin.dispatch_signature import (
    MIN_SECRET_LENGTH,
    TOLERANCE_SECONDS,
    DispatchSigner,
    SignatureError,
    check_secret,
    signed_target,
)
from hometwin.sdk import SdkSettings

SECRET = secrets.token_hex(32)
NOW = 1_790_000_000.0
HEADERS = {"Idempotency-Key": "inv-1", "X-Function-Name": "send_emergency_email", "X-Event-Ids": "e1,e2",
           "X-Invocation-Attempt": "1"}
BODY = b'{"EmergencyEvent": {"data": {"alert_id": "a1"}, "timestamp": "2026-11-24T10:00:00+0000"}}'
URL = "http://actuation:8000/api/send_emergency_email"
PATH = "/api/send_emergency_email"


def signed(signer: DispatchSigner | None = None, **changes: object) -> str:
    signer = signer or DispatchSigner(SECRET)
    return signer.sign(str(changes.get("method", "POST")), str(changes.get("url", URL)),
                       changes.get("headers", HEADERS), changes.get("body", BODY),  # type: ignore[arg-type]
                       float(changes.get("now", NOW)))  # type: ignore[arg-type]


def verify(header: str | None, *, secret: str = SECRET, now: float = NOW, method: str = "POST",
           path: str = PATH, headers: dict[str, str] | None = None, body: bytes | None = BODY) -> None:
    signer = DispatchSigner(secret)
    signer.verify(signer.parse(header, now), method, path, headers if headers is not None else HEADERS, body)


def test_a_signed_invocation_verifies() -> None:
    header = signed()
    assert header.startswith(f"t={int(NOW)},v1=")
    verify(header)
    verify(header, now=NOW + TOLERANCE_SECONDS)  # the edge of the window is still accepted
    verify(signed(method="GET", body=None), method="GET", body=b"")  # no body is the empty body


@pytest.mark.parametrize(("what", "changed"), [
    ("body", {"body": BODY.replace(b"a1", b"a2")}),
    ("method", {"method": "PUT"}),
    ("path", {"path": "/api/send_weekly_report"}),
    ("idempotency key", {"headers": {**HEADERS, "Idempotency-Key": "inv-2"}}),
    ("function name", {"headers": {**HEADERS, "X-Function-Name": "other"}}),
    ("event ids", {"headers": {**HEADERS, "X-Event-Ids": "e1"}}),
    ("attempt", {"headers": {**HEADERS, "X-Invocation-Attempt": "2"}}),
    ("secret", {"secret": secrets.token_hex(32)}),
])
def test_any_change_is_refused_with_403(what: str, changed: dict[str, object]) -> None:
    with pytest.raises(SignatureError) as refused:
        verify(signed(), **changed)  # type: ignore[arg-type]
    assert refused.value.status == 403, what


def test_the_timestamp_is_signed_too() -> None:
    header = signed()
    mac = header.split(",v1=")[1]
    with pytest.raises(SignatureError, match="wrong") as refused:
        verify(f"t={int(NOW) + 1},v1={mac}", now=NOW)
    assert refused.value.status == 403


@pytest.mark.parametrize("offset", [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1), 86_400])
def test_stale_or_future_timestamps_are_refused(offset: float) -> None:
    with pytest.raises(SignatureError, match="stale") as refused:
        verify(signed(now=NOW - offset), now=NOW)
    assert refused.value.status == 403


@pytest.mark.parametrize("header", [None, "", "  "])
def test_a_missing_signature_is_401(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing") as refused:
        verify(header)
    assert refused.value.status == 401


@pytest.mark.parametrize("header", ["t=abc,v1=00", f"v1={'0' * 64}", f"t={int(NOW)},v1={'0' * 63}",
                                    f"t={int(NOW)},v1={'Z' * 64}", f"t={int(NOW)},v2={'0' * 64}"])
def test_a_malformed_signature_is_403(header: str) -> None:
    with pytest.raises(SignatureError, match="malformed") as refused:
        verify(header)
    assert refused.value.status == 403


def test_the_sender_signs_the_path_the_receiver_sees() -> None:
    assert signed_target("http://h:8000/api/a%20b?x=%7E1") == signed_target("/api/a b", "x=~1") == "/api/a b?x=~1"
    assert signed_target("http://h:8000") == signed_target("/") == "/"
    verify(signed(url="http://10.0.0.7:8000/api/send_emergency_email"))  # the host is not part of it


@pytest.mark.parametrize("bad", ["short", "x" * (MIN_SECRET_LENGTH - 1), "REPLACE_ME" + "0123456789abcdef" * 2,
                                 "changeme-changeme-changeme-changeme", "ab" * 32])
def test_short_or_placeholder_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="openssl rand -hex 32"):
        check_secret(bad)
    with pytest.raises(ValueError, match="HOMETWIN_DISPATCH_SECRET"):
        DispatchSigner(bad)


def test_generated_secrets_are_accepted() -> None:
    for _ in range(50):
        for key in (secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_hex(16)):
            assert check_secret(key) == key


def test_the_bearer_token_is_the_secret_itself() -> None:
    signer = DispatchSigner(SECRET)
    assert signer.token_ok(SECRET)
    assert not signer.token_ok(SECRET[:-1]) and not signer.token_ok("")


# --- Reading the secret: the scheduler (config.read_secret) and the SDK agree ------------------


def test_both_sides_read_the_same_variable_and_the_file_wins(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    in_file = secrets.token_hex(32)
    (tmp_path / "dispatch-secret").write_text(in_file + "\n")
    monkeypatch.setenv("HOMETWIN_DISPATCH_SECRET", SECRET)
    assert SchedulerSettings().dispatch_key() == SdkSettings().dispatch_key() == SECRET
    monkeypatch.setenv("HOMETWIN_DISPATCH_SECRET_FILE", str(tmp_path / "dispatch-secret"))
    assert SchedulerSettings().dispatch_key() == SdkSettings().dispatch_key() == in_file


def test_unset_means_no_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMETWIN_DISPATCH_SECRET", raising=False)
    monkeypatch.delenv("HOMETWIN_DISPATCH_SECRET_FILE", raising=False)
    assert SchedulerSettings().dispatch_key() is None and SdkSettings().dispatch_key() is None


@pytest.mark.parametrize(("content", "error"), [("", "is empty"), ("\n", "is empty"),
                                                ("REPLACE_ME", "too short"), (None, "cannot read")])
def test_a_bad_secret_file_is_an_error_on_both_sides(tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "dispatch-secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=error):
        SchedulerSettings(dispatch_secret_file=path).dispatch_key()
    with pytest.raises(ValueError, match=error):
        SdkSettings(dispatch_secret_file=path).dispatch_key()


def test_the_scheduler_refuses_to_start_with_a_placeholder(tmp_path: Path) -> None:
    from hometwin.scheduler.app import create_app

    with pytest.raises(ValueError, match="HOMETWIN_DISPATCH_SECRET"):
        create_app(SchedulerSettings(scheduler_state="memory://", dispatch_secret="REPLACE_ME"))
