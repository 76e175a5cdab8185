"""Marker semantics for the whole suite (see pyproject.toml for the registered markers).

- ``gpu``: skips unless JAX sees a GPU (also under ``CI=true``: CI machines have none).
- ``slurm``: skips unless ``sinfo`` answers; with ``CI=true`` a missing SLURM *fails* the test,
  because .ci/run is expected to have started slurmctld/slurmd.
- ``ui``: skips unless a ``chromium`` binary is on PATH; with ``CI=true`` a missing Chromium fails.
- ``slow`` and ``notebooks``: informational; deselect with ``-m "not slow"``.
Notebook items collected by nbval (``*.ipynb``) are marked ``notebooks`` automatically.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

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
