"""docs/sdk.md stays true: its example is the tested fixture, and it names every setting and export."""

from __future__ import annotations

import re
from pathlib import Path

import hometwin.sdk
from hometwin.sdk import SdkSettings
from hometwin.settings_doc import env_names

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "sdk.md").read_text()
FIXTURE = (ROOT / "tests" / "fixtures" / "course_component" / "main.py").read_text()


def test_the_minimal_example_is_the_fixture_the_e2e_tests_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)
    assert FIXTURE in blocks


def test_the_fixture_differs_from_the_course_sample_only_by_its_import() -> None:
    lines = FIXTURE.splitlines()
    assert lines[0] == "from hometwin.sdk import ExampleEventFabric, LocalGateway, PeriodicTrigger, base_logger"
    assert not any(line.startswith(("import ", "from ")) for line in lines[1:])
    for course_line in ('app = LocalGateway()', 'app.deploy(demo, "demo-fn", "GenEvent")',
                        'app.deploy(base_fn, "fn-fabric", "CreateFn")', "evt = ExampleEventFabric()",
                        'tgr = PeriodicTrigger(evt, "30s", "1m")'):
        assert course_line in [line.strip() for line in lines], course_line


def test_every_environment_variable_is_documented() -> None:
    for name, field in SdkSettings.model_fields.items():
        for variable in env_names(SdkSettings, name, field):
            assert f"`{variable}`" in DOC, f"{variable} missing from docs/sdk.md"


def test_every_export_is_documented() -> None:
    for export in hometwin.sdk.__all__:
        assert export in DOC, f"{export} missing from docs/sdk.md"
