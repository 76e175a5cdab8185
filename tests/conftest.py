"""Marker semantics for the whole suite (see pyproject.toml for the registered markers).

- ``gpu``: skips unless JAX sees a GPU (also under ``CI=true``: CI machines have none).
- ``slurm``: skips unless ``sinfo`` answers; with ``CI=true`` a missing SLURM *fails* the test,
  because .ci/run is expected to have started slurmctld/slurmd.
- ``ui``: skips unless a ``chromium`` binary is on PATH; with ``CI=true`` a missing Chromium fails.
- ``slow`` and ``notebooks``: informational; deselect with ``-m "not slow"``.
Notebook items collected by nbval (``*.ipynb``) are marked ``notebooks`` automatically.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import shutil
import subprocess
from typing import IO

import pytest


def in_ci() -> bool:
    """True when the environment variable ``CI`` is set to a true value (CI sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@functools.cache
def has_gpu() -> bool:
    try:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # noqa: BLE001 - no backend at all counts as no GPU
        return False


@functools.cache
def has_slurm() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


@functools.cache
def has_chromium() -> bool:
    return any(shutil.which(b) for b in ("chromium", "chromium-browser"))


# marker -> (probe, what is missing, fails under CI=true?)
SERVICES = {
    "gpu": (has_gpu, "no JAX GPU device", False),
    "slurm": (has_slurm, "SLURM is not available (`sinfo -h` failed or is not on PATH)", True),
    "ui": (has_chromium, "no `chromium` binary on PATH", True),
}


# A native crash (segfault, abort) kills pytest without a report, and CI shows only the tail of
# the output, where faulthandler's long module list sits. With NEPHLAB_CRASH_LOG=PATH the
# faulthandler dump goes to PATH, preceded by the id of each test as it starts;
# tests/crash_report.py turns it into a short summary (the Makefile prints it on failure).
_crash_log: IO[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _crash_log
    path = os.environ.get("NEPHLAB_CRASH_LOG")
    if path and _crash_log is None:
        _crash_log = open(path, "w", buffering=1)  # noqa: SIM115 - lives for the whole session
        faulthandler.enable(file=_crash_log, all_threads=True)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if _crash_log is not None:
        _crash_log.write(f"nephlab-test-start {nodeid}\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _crash_log
    if _crash_log is not None:
        faulthandler.disable()
        _crash_log.close()
        _crash_log = None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, (probe, missing, required_in_ci) in SERVICES.items():
        if item.get_closest_marker(name) is None or probe():
            continue
        if required_in_ci and in_ci():
            pytest.fail(f"CI=true but {missing}: .ci/run must provide it", pytrace=False)
        pytest.skip(f"{name}: {missing}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if str(getattr(item, "path", "")).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
