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
import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path
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
# faulthandler dump goes to PATH, preceded by one line per test as it starts (its id and the
# process's count of memory mappings, which XLA's compiled code grows); tests/crash_report.py
# turns it into a short summary (the Makefile prints it on failure). The hooks live in a plugin
# object, not in this conftest, so that they also see the doctests and notebooks outside tests/.
# Under pytest-xdist each worker writes its own PATH.gwN (the report reads them all).
def _n_memory_maps() -> int:
    try:
        with open("/proc/self/maps", "rb") as fh:
            return sum(1 for _ in fh)
    except OSError:  # not Linux
        return -1


class _CrashLog:
    def __init__(self, path: str):
        self.file: IO[str] = open(path, "w", buffering=1)  # noqa: SIM115 - lives for the session
        faulthandler.enable(file=self.file, all_threads=True)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.file.write(f"nephlab-test-start {nodeid} maps={_n_memory_maps()}\n")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        faulthandler.disable()
        self.file.close()


class _ReleaseCompiledCode:
    """Drop JAX's compiled executables when the run moves on to another file.

    Every XLA executable holds a few memory mappings, and one pytest process compiles thousands
    of them (about 14,600 mappings after two mesolve test files). Past the kernel's
    ``vm.max_map_count`` (65,530 by default) XLA's next compilation crashes the whole run with a
    segfault or an abort. Clearing JAX's caches between files keeps the count at what one file
    needs; a file's own tests still share their compilations.
    """

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if nextitem is not None and nextitem.path == item.path:
            return
        jax = sys.modules.get("jax")
        if jax is not None:
            jax.clear_caches()
            gc.collect()


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("nephlab-release-compiled-code"):
        config.pluginmanager.register(_ReleaseCompiledCode(), "nephlab-release-compiled-code")
    path = os.environ.get("NEPHLAB_CRASH_LOG")
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # pytest-xdist: one log per worker process
    if path and worker:
        path = f"{path}.{worker}"
    if path and not config.pluginmanager.has_plugin("nephlab-crash-log"):
        config.pluginmanager.register(_CrashLog(path), "nephlab-crash-log")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, (probe, missing, required_in_ci) in SERVICES.items():
        if item.get_closest_marker(name) is None or probe():
            continue
        if required_in_ci and in_ci():
            pytest.fail(f"CI=true but {missing}: .ci/run must provide it", pytrace=False)
        pytest.skip(f"{name}: {missing}")


# The slowest files, slowest first (from test-artifacts/junit.xml of a full run). Under
# `--dist loadfile --no-loadscope-reorder` pytest-xdist hands out files in collection order,
# so these start at once instead of running alone at the end (test_sessions.py alone is ~6 min).
SLOW_FIRST = (
    "test_sessions.py", "test_learn_ppo.py", "test_jupyterlab.py", "test_learn_hjb.py",
    "test_ui_browser_science.py", "test_mesolve_stream.py", "test_widgets_protocol.py",
    "test_ui_browser.py", "test_md_lammps.py", "test_mesolve_memory.py", "test_control_protocols.py",
    "test_notebooks_served.py", "test_widgets_cluster.py", "test_slurm.py", "test_md_shear.py",
)


def _start_rank(item: pytest.Item) -> int:
    """Where an item's file starts: the slow files in order, then notebooks, then the rest."""
    path = Path(str(getattr(item, "path", "")))
    if path.name in SLOW_FIRST:
        return SLOW_FIRST.index(path.name)
    return len(SLOW_FIRST) + (0 if path.suffix == ".ipynb" else 1)


GPU_PROPERTY = ("nephlab_gpu_marked", True)  # in each gpu-marked test's reports (they reach xdist's controller)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if str(getattr(item, "path", "")).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
        if item.get_closest_marker("gpu") is not None:
            item.user_properties.append(GPU_PROPERTY)
    items.sort(key=_start_rank)  # stable: the order inside a file and among the rest is kept


# Every run says how many GPU tests it skipped and when they last ran on a GPU, read from the
# line "GPU tests last ran: ..." in benchmarks/RESULTS.md (updated by whoever runs
# benchmarks/gpu_check.sh on a lent device), so a green CPU-only run never hides them.
RESULTS_MD = Path(__file__).resolve().parent.parent / "benchmarks" / "RESULTS.md"
GPU_RECORD_PREFIX = "GPU tests last ran:"


def gpu_last_run(path: Path = RESULTS_MD) -> str:
    """The text after ``GPU tests last ran:`` in ``path``, or a note saying that it is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return f"unknown ({path.name} not found)"
    for line in text.splitlines():
        if line.startswith(GPU_RECORD_PREFIX):
            return line[len(GPU_RECORD_PREFIX):].strip() or "unknown (empty record)"
    return f"unknown (no '{GPU_RECORD_PREFIX}' line in {path.name})"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    # the marker, not the keywords: a parameter id "gpu" (e.g. device="gpu" refused on a CPU) is
    # a keyword too
    def marked(r) -> bool:
        return tuple(GPU_PROPERTY) in [tuple(p) for p in getattr(r, "user_properties", ())]

    n_skipped = sum(1 for r in terminalreporter.stats.get("skipped", []) if marked(r))
    n_ran = sum(1 for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
                if marked(r) and getattr(r, "when", "call") == "call")
    terminalreporter.write_sep("-", "GPU tests")
    terminalreporter.write_line(f"gpu tests: {n_skipped} skipped, {n_ran} ran in this run; "
                                f"last run on a GPU: {gpu_last_run()} (benchmarks/RESULTS.md)")
