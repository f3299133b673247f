"""Schemathesis over the scheduler's own OpenAPI schema: generated requests, valid and invalid,
to every operation of the real scheduler under uvicorn; none may get a 5xx.

Bounded: at most 100 examples per operation (about 20 s in all). Every registration is forced to
`mock: true`, so no generated URL is ever called: the scheduler sends nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from hometwin.config import SchedulerSettings
from hometwin.scheduler.app import create_app
from tests.e2e.scheduler_helpers import Scheduler

EXAMPLES = 100


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    tmp = tmp_path_factory.mktemp("scheduler-openapi")
    s = Scheduler(tmp / "state.sqlite", tmp / "scheduler.log",
                  env={"HOMETWIN_SCHEDULER_SYNCHRONOUS": "NORMAL"}).start()
    yield s
    s.stop()


# The schema the real scheduler serves at /openapi.json, taken from the app without serving it
# (create_app connects to nothing). Not schemathesis.pytest.from_fixture: with pytest 9 its lazy
# loading fails (AttributeError: 'Function' object has no attribute '_nodeid').
schema = schemathesis.openapi.from_dict(create_app(SchedulerSettings(scheduler_state="memory://")).openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, scheduler: Scheduler):
    if case.path == "/api/function" and case.method == "POST" and isinstance(case.body, dict):
        case.body["mock"] = True  # never deliver to a generated URL
    case.call_and_validate(base_url=scheduler.url, checks=[not_a_server_error])


def test_the_schema_is_the_one_served(scheduler: Scheduler):
    assert scheduler.client.get("/openapi.json").json() == schema.raw_schema


def test_the_scheduler_logged_no_traceback(scheduler: Scheduler):
    assert scheduler.client.get("/api/invocations").status_code == 200
    assert "Traceback" not in Path(scheduler.process.log).read_text(errors="replace")
