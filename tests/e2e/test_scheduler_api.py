"""The scheduler's HTTP edge under uvicorn: bearer auth on and off, and a table of bad inputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.scheduler_helpers import Scheduler

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def open_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    tmp = tmp_path_factory.mktemp("scheduler-open")
    s = Scheduler(tmp / "state.sqlite", tmp / "scheduler.log",
                  env={"HOMETWIN_SCHEDULER_MAX_BODY_BYTES": "4096"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def locked_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    tmp = tmp_path_factory.mktemp("scheduler-locked")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    s = Scheduler(tmp / "state.sqlite", tmp / "scheduler.log",
                  env={"HOMETWIN_SCHEDULER_TOKEN_FILE": str(token_file)})
    s.client.headers["Authorization"] = f"Bearer {TOKEN}"
    s.start()
    yield s
    s.stop()


PROTECTED = [
    ("POST", "/api/event", {"name": "E", "data": 1}),
    ("POST", "/api/function", {"name": "f", "subs": ["E"], "url": "127.0.0.1:9/x"}),
    ("DELETE", "/api/function", {"name": "f"}),
    ("GET", "/api/status", None),
    ("GET", "/api/invocations?status=dead", None),
    ("POST", "/api/invocations/replay", {}),
    ("GET", "/metrics", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
def test_locked_routes_refuse_without_the_token(locked_scheduler: Scheduler, method, path, body,
                                                authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, locked_scheduler.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_locked_routes_work_with_the_token(locked_scheduler: Scheduler, method, path, body):
    response = locked_scheduler.client.request(method, path, json=body)
    assert response.status_code < 300, response.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_needs_no_token(locked_scheduler: Scheduler, path):
    assert httpx.get(locked_scheduler.url + path, timeout=10).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_without_a_token_setting_everything_is_open(open_scheduler: Scheduler, method, path, body):
    response = httpx.request(method, open_scheduler.url + path, json=body, timeout=10)
    assert response.status_code < 300, response.text


BAD = [
    # (method, path, raw body, expected status, text the answer must contain)
    ("POST", "/api/event", b"{not json", 422, "JSON"),
    ("POST", "/api/event", b"", 422, "body"),
    ("POST", "/api/event", b"[1, 2]", 422, "object"),
    ("POST", "/api/event", b'{"data": 1}', 422, "name"),
    ("POST", "/api/event", b'{"name": ""}', 422, "name"),
    ("POST", "/api/event", b'{"name": 5}', 422, "name"),
    ("POST", "/api/event", b'{"name": null}', 422, "name"),
    ("POST", "/api/event", b'{"name": "' + b"e" * 201 + b'"}', 422, "name"),  # fast path hands it on
    ("POST", "/api/event", b'{"name": "E", "data": "' + b"x" * 5000 + b'"}', 413, "larger than 4096"),
    ("POST", "/api/function", b'{"name": "f", "subs": [], "url": "h:1/x"}', 422, "subs"),
    ("POST", "/api/function", b'{"name": "f", "subs": "E", "url": "h:1/x"}', 422, "subs"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E", ""], "url": "h:1/x"}', 422, "subs"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E", "E"], "url": "h:1/x"}', 422, "repeat"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E"]}', 422, "url"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E"], "url": "ftp://h/x"}', 422, "url"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E"], "url": "h:1/x", "method": "BR"}', 422, "method"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E"], "url": "h:1/x", "mock": "maybe"}', 422, "mock"),
    ("POST", "/api/function", b'{"name": "f", "subs": ["E"], "url": "h:1/x", "timeout": -1}', 422, "timeout"),
    ("POST", "/api/function", b'{"name": "", "subs": ["E"], "url": "h:1/x"}', 422, "name"),
    ("DELETE", "/api/function", b"{}", 422, "name"),
    ("GET", "/api/invocations?status=lost", b"", 422, "status"),
    ("GET", "/api/invocations?limit=0", b"", 422, "limit"),
    ("POST", "/api/invocations/no-such-id/replay", b"", 404, "no dead invocation"),
    ("POST", "/api/invocations/replay", b'{"ids": "x"}', 422, "ids"),
]


@pytest.mark.parametrize(("method", "path", "raw", "status", "text"), BAD)
def test_bad_input_gets_a_clear_4xx(open_scheduler: Scheduler, method, path, raw, status, text):
    response = httpx.request(method, open_scheduler.url + path, content=raw,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == status, response.text
    assert text in response.text


def test_bad_input_leaves_the_scheduler_serving(open_scheduler: Scheduler):
    for method, path, raw, _, _ in BAD:
        httpx.request(method, open_scheduler.url + path, content=raw,
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert open_scheduler.client.post("/api/event", json={"name": "E"}).status_code == 202
    assert "Traceback" not in Path(open_scheduler.process.log).read_text()


def test_event_fast_path_answers_like_the_route(open_scheduler: Scheduler):
    """Plain events are answered by EventFastPath (JSON content type), others by the FastAPI route
    (another JSON media type): the same 202 and body shape either way; a chunked body is read whole."""
    url = open_scheduler.url + "/api/event"
    fast = httpx.post(url, content=b'{"name": "' + b"e" * 200 + b'", "data": [1]}',
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10)
    routed = httpx.post(url, content=b'{"name": "E", "data": {"a": 1}}',  # a JSON type only FastAPI takes
                        headers={"Content-Type": "application/vnd.test+json"}, timeout=10)
    chunked = httpx.post(url, content=iter([b'{"name": "E",', b' "data": 2}']),
                         headers={"Content-Type": "application/json"}, timeout=10)
    for response in (fast, routed, chunked):
        assert response.status_code == 202, response.text
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"id", "subscribers", "invocations"}
    assert len({r.json()["id"] for r in (fast, routed, chunked)}) == 3


def test_delete_of_an_unknown_function_is_harmless(open_scheduler: Scheduler):
    response = open_scheduler.client.request("DELETE", "/api/function", json={"name": "never-registered"})
    assert response.status_code == 200 and response.json()["deleted"] is False


@pytest.mark.parametrize(("state", "message"), [
    ("sqlite://relative.sqlite", "three slashes"),
    ("postgres://db/x", "only sqlite:/// is supported"),
    ("sqlite:////proc/no-such-dir/state.sqlite", "No such file or directory"),
])
def test_unusable_state_is_a_clear_cli_error(state: str, message: str):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "hometwin", "scheduler", "--port", "9", "--state", state],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
