"""Public names that no other test calls (issue 16), and the GPU line of the terminal summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ GPU line of the summary


def test_gpu_record_is_parsed(tmp_path):
    from conftest import GPU_RECORD_PREFIX, gpu_last_run

    f = tmp_path / "RESULTS.md"
    f.write_text(f"# x\n\n### GPU\n\n{GPU_RECORD_PREFIX} 2027-01-02 on NVIDIA H100 80GB HBM3 (13 passed)\n")
    assert gpu_last_run(f) == "2027-01-02 on NVIDIA H100 80GB HBM3 (13 passed)"
    f.write_text("no record here\n")
    assert gpu_last_run(f).startswith("unknown (no 'GPU tests last ran:' line")
    assert gpu_last_run(tmp_path / "missing.md").startswith("unknown (")
    # the project's own record exists and is either "never (...)" or "DATE on CARD ..."
    rec = gpu_last_run()
    assert not rec.startswith("unknown"), rec
    assert rec.startswith("never") or rec[:4].isdigit() and " on " in rec, rec


def test_terminal_summary_reports_skipped_gpu_tests():
    """A real pytest run of one gpu-marked test prints the count and the record."""
    from conftest import gpu_last_run

    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CI": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/test_tasks.py::test_device_gpu_matches_cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # JAX_PLATFORMS=cpu hides any GPU, so the test skips even on a GPU machine
    assert "gpu tests: 1 skipped, 0 ran in this run" in out, out[-3000:]
    assert f"last run on a GPU: {gpu_last_run()}" in out
