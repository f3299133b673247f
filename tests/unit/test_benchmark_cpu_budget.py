"""The CPU budget of benchmarks/scheduler_postgres.py (`--scheduler-cpu`): a process put in its
cgroup gets no more than its quota, and the cgroups are removed however the run ends. Needs root
and a writable cgroup `cpu` controller (skipped otherwise, with the reason)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "scheduler_postgres.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    # The benchmark puts benchmarks/ first on sys.path to import its sibling scheduler.py; undo
    # that, so no later test imports benchmarks/data.py or model.py by a bare name.
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("scheduler_postgres_bench", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
        if "scheduler" not in modules:
            sys.modules.pop("scheduler", None)
    return module


@pytest.fixture
def writable_cgroups(bench: ModuleType) -> None:
    try:
        bench.CpuBudget(0.2, 100).close()
    except bench.CgroupUnavailable as exc:
        pytest.skip(f"no writable cgroup cpu controller: {exc}")


def test_a_quota_the_kernel_refuses_is_a_clear_error(bench: ModuleType) -> None:
    with pytest.raises(bench.CgroupUnavailable, match="outside what the kernel takes"):
        bench.CpuBudget(0.0005, 100)


@pytest.mark.usefixtures("writable_cgroups")
def test_a_confined_process_gets_its_quota_and_its_cgroup_is_removed(bench: ModuleType) -> None:
    budget = bench.CpuBudget(0.2, 100)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        group = budget.confine(spin.pid)
        time.sleep(0.3)
        start, throttled = bench.cpu_seconds(spin.pid), bench.CpuBudget.throttling(group)
        time.sleep(1.0)
        used = bench.cpu_seconds(spin.pid) - start
        periods, throttles = (b - a for a, b in zip(throttled, bench.CpuBudget.throttling(group), strict=True))
    finally:
        spin.kill()
        spin.wait(10)
        budget.close()
    assert used <= 0.3, f"a 0.2-core budget let a busy loop use {used:.2f} s of CPU in 1 s"
    assert periods >= 5 and throttles >= periods // 2, "the busy loop was not held at its quota"
    assert not group.exists() and budget.made == []


@pytest.mark.usefixtures("writable_cgroups")
def test_the_cgroups_are_removed_when_the_run_fails(bench: ModuleType) -> None:
    groups: list[Path] = []
    with pytest.raises(RuntimeError, match="the run broke"), bench.cpu_budget(0.2, 100) as budget:
        groups += [budget.confine(None), budget.confine(None)]
        assert all(group.is_dir() for group in groups)
        raise RuntimeError("the run broke")
    assert groups and not any(group.exists() for group in groups)
