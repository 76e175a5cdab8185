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
         "tests/test_tasks.py::test_device_gpu_matches_cpu",
         # not gpu-marked, though "gpu" is its parameter id: it must not be counted
         "tests/test_device_selection.py::test_gpu_without_gpu_is_a_clear_error_everywhere[gpu]"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # JAX_PLATFORMS=cpu hides any GPU, so the test skips even on a GPU machine
    assert "1 passed, 1 skipped" in out and "gpu tests: 1 skipped, 0 ran in this run" in out, out[-3000:]
    assert f"last run on a GPU: {gpu_last_run()}" in out


# ------------------------------------------------------------------ thermal_dm


@pytest.mark.parametrize("n, nbar", [(1, 0.7), (6, 0.0), (8, 0.3), (40, 2.5)])
def test_thermal_dm_populations_are_boltzmann(n, nbar):
    import qutip as qt

    from nephlab.quantum import thermal_dm

    rho = np.asarray(thermal_dm(n, nbar))
    assert rho.shape == (n, n)
    np.testing.assert_array_equal(rho - np.diag(np.diag(rho)), 0)  # diagonal in the Fock basis
    # Boltzmann weights of H = ω a†a with e^{-βω} = nbar / (1 + nbar), renormalised on n levels
    w = (nbar / (1 + nbar)) ** np.arange(n) if nbar > 0 else (np.arange(n) == 0).astype(float)
    np.testing.assert_allclose(np.diag(rho).real, w / w.sum(), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(rho, qt.thermal_dm(n, nbar).full(), rtol=0, atol=1e-14)


def test_thermal_dm_mean_occupation_and_errors():
    from nephlab.quantum import thermal_dm

    nbar = 0.8
    beta_omega = np.log1p(1 / nbar)  # nbar = 1 / (e^{βω} - 1)
    rho = np.asarray(thermal_dm(200, nbar))  # truncation error (nbar/(1+nbar))^200 ~ 1e-51
    k = np.arange(200)
    assert abs(np.sum(k * np.diag(rho).real) - nbar) < 1e-12
    np.testing.assert_allclose(np.diag(rho).real[:5], (1 - np.exp(-beta_omega)) * np.exp(-beta_omega * k[:5]), rtol=1e-12)
    for bad in (-0.1, np.inf, np.nan):
        with pytest.raises(ValueError, match="nbar"):
            thermal_dm(4, bad)


# ------------------------------------------------------------------ sqra_generator_*


def _generator_1d(up, down):
    n = up.size + 1
    L = np.zeros((n, n))
    i = np.arange(n - 1)
    L[i, i + 1], L[i + 1, i] = up, down
    return L - np.diag(L.sum(1))


def test_sqra_generator_1d_closed_forms():
    from nephlab.largedev import sqra_generator_1d

    D = 0.35
    x = np.linspace(-2.0, 2.0, 41)
    h = x[1] - x[0]
    up, down = sqra_generator_1d(lambda x: -x, np.sqrt(2 * D), x)  # V = x²/2, F = -V'
    # the SqRA rates are exactly D/h² exp(∓ΔV / 2D) for a quadratic V (midpoint drift)
    dV = np.diff(0.5 * x**2)
    np.testing.assert_allclose(up, D / h**2 * np.exp(-dV / (2 * D)), rtol=1e-13)
    np.testing.assert_allclose(down, D / h**2 * np.exp(dV / (2 * D)), rtol=1e-13)
    L = _generator_1d(up, down)
    assert np.abs(L.sum(1)).max() < 1e-10 * np.abs(L).max()  # rows sum to zero
    # detailed balance with the Boltzmann weights exp(-V/D): pi_i L_ij = pi_j L_ji, pi L = 0
    pi = np.exp(-0.5 * x**2 / D)
    pi /= pi.sum()
    flux = pi[:, None] * L
    np.testing.assert_allclose(flux, flux.T, rtol=0, atol=1e-12 * np.abs(flux).max())
    np.testing.assert_allclose(pi @ L, 0, atol=1e-12 * np.abs(flux).max())
    # no drift: the standard three-point Laplacian D (f_{i+1} - 2 f_i + f_{i-1}) / h²
    up0, down0 = sqra_generator_1d(lambda x: 0 * x, np.sqrt(2 * D), x)
    np.testing.assert_allclose(up0, D / h**2, rtol=1e-13)  # h = 0.1 is not exact in binary
    np.testing.assert_allclose(down0, D / h**2, rtol=1e-13)


def test_sqra_generator_1d_is_a_second_order_discretisation():
    from nephlab.largedev import sqra_generator_1d

    # L f -> F f' + D f'' for smooth f at interior points, with an O(h²) error
    D, F = 0.5, (lambda x: -x**3 + 0.5)
    errs = []
    for n in (41, 81):
        x = np.linspace(-1.0, 1.0, n)
        L = _generator_1d(*sqra_generator_1d(F, np.sqrt(2 * D), x))
        f = np.sin(2 * x)
        exact = F(x) * 2 * np.cos(2 * x) - D * 4 * np.sin(2 * x)
        errs.append(np.abs((L @ f - exact)[1:-1]).max())
    assert 3.6 < errs[0] / errs[1] < 4.4, errs  # halving h divides the error by 4


def test_sqra_generator_2d_closed_forms():
    import scipy.sparse as sp

    from nephlab.largedev import sqra_generator_1d, sqra_generator_2d

    D = 0.6
    x = np.linspace(-1.5, 1.5, 13)
    y = np.linspace(-1.0, 1.0, 9)  # same spacing 0.25
    V = lambda X, Y: 0.5 * X**2 + Y**4 - Y  # noqa: E731
    L = sqra_generator_2d(V, D, x, y)
    assert L.shape == (13 * 9, 13 * 9) and sp.issparse(L)
    Ld = L.toarray()
    assert np.abs(Ld.sum(1)).max() < 1e-10 * np.abs(Ld).max()
    assert (Ld - np.diag(np.diag(Ld)) >= 0).all()
    X, Y = np.meshgrid(x, y, indexing="ij")
    pi = np.exp(-V(X, Y) / D).ravel()
    pi /= pi.sum()
    flux = pi[:, None] * Ld
    np.testing.assert_allclose(flux, flux.T, rtol=0, atol=1e-12 * np.abs(flux).max())
    # a quadratic separable V: the 2-D generator is the Kronecker sum of the 1-D ones
    Lq = sqra_generator_2d(lambda X, Y: 0.5 * X**2 + 0.5 * Y**2, D, x, y).toarray()
    Lx = _generator_1d(*sqra_generator_1d(lambda s: -s, np.sqrt(2 * D), x))
    Ly = _generator_1d(*sqra_generator_1d(lambda s: -s, np.sqrt(2 * D), y))
    np.testing.assert_allclose(Lq, np.kron(Lx, np.eye(9)) + np.kron(np.eye(13), Ly), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="same spacing"):
        sqra_generator_2d(V, D, x, np.linspace(-1, 1, 5))
    with pytest.raises(ValueError, match="D"):
        sqra_generator_2d(V, -1.0, x, y)


# ------------------------------------------------------------------ recommend_executor


def test_recommend_executor_thresholds(monkeypatch):
    from nephlab.tasks import EXECUTORS, recommend_executor

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert recommend_executor(1e6, 0.1) == "in-process"
    assert recommend_executor(0.99e9, 59.0) == "in-process"
    assert recommend_executor(0.99e9, 0.6, n_points=100) == "local"    # 60 s in all: not under a minute
    assert recommend_executor(1.5e9, 1.0) == "local"                     # over 1 GB
    assert recommend_executor(16.5e9, 1.0) == "cluster"                  # one point over 16 GB
    assert recommend_executor(1e6, 3600.0, n_points=2) == "local"        # one hour on 2 cores
    assert recommend_executor(1e6, 3601.0, n_points=2) == "cluster"      # more than an hour on 2 cores
    assert {recommend_executor(m, s) for m in (1, 2e9, 2e10) for s in (1, 1e5)} <= set(EXECUTORS)


@pytest.mark.parametrize(
    "args, kwargs, err, message",
    [
        ((-1.0, 0.1), {}, ValueError, "memory_bytes must be >= 0, got -1.0"),
        ((1e6, -0.5), {}, ValueError, "seconds must be >= 0, got -0.5"),
        ((float("nan"), 0.1), {}, ValueError, "memory_bytes must be a finite real number, got nan"),
        ((1e6, float("inf")), {}, ValueError, "seconds must be a finite real number, got inf"),
        ((1e6, float("-inf")), {}, ValueError, "seconds must be a finite real number, got -inf"),
        (("1GB", 0.1), {}, TypeError, "memory_bytes must be a real number, got '1GB' of type str"),
        ((1e6, None), {}, TypeError, "seconds must be a real number, got None of type NoneType"),
        ((True, 0.1), {}, TypeError, "memory_bytes must be a real number, got True of type bool"),
        ((1e6, 1j), {}, TypeError, "seconds must be a real number, got 1j of type complex"),
        ((1e6, 0.1), {"n_points": 0}, ValueError, "n_points must be a positive integer, got 0"),
        ((1e6, 0.1), {"n_points": -3}, ValueError, "n_points must be a positive integer, got -3"),
        ((1e6, 0.1), {"n_points": 2.5}, ValueError, "n_points must be a positive integer, got 2.5"),
        ((1e6, 0.1), {"n_points": True}, ValueError, "n_points must be a positive integer, got True"),
        ((1e6, 0.1), {"n_points": "10"}, ValueError, "n_points must be a positive integer, got '10'"),
        ((1e6, 0.1), {"n_points": float("nan")}, ValueError, "n_points must be a positive integer, got nan"),
    ],
)
def test_recommend_executor_refuses_bad_input(args, kwargs, err, message):
    from nephlab.tasks import recommend_executor

    with pytest.raises(err) as info:
        recommend_executor(*args, **kwargs)
    assert str(info.value) == message


def test_recommend_executor_accepts_numpy_scalars_and_zero():
    from nephlab.tasks import recommend_executor

    # zero cost is a valid estimate; NumPy scalars (what estimates compute) and an integral float count
    assert recommend_executor(0, 0.0) == "in-process"
    assert recommend_executor(np.int64(10**6), np.float64(0.1), n_points=np.int64(3)) == "in-process"
    assert recommend_executor(1e6, 10.0, n_points=100.0) == recommend_executor(1e6, 10.0, n_points=100)


# ------------------------------------------------------------------ widgets: tabbed_app, JobContext, cluster_client


def test_tabbed_app_has_one_lazy_tab_per_page():
    import panel as pn

    from nephlab.widgets import tabbed_app
    from nephlab.widgets.app import PAGES

    t = tabbed_app()
    assert isinstance(t, pn.Tabs) and t.dynamic and "nl-tabs" in t.css_classes
    assert list(t._names) == [PAGES[k][0] for k in PAGES]
    assert len(t) == len(PAGES)


def test_job_context_check_emit_compute_locally():
    from nephlab.widgets import JobContext
    from nephlab.widgets._base import Cancelled, Job

    seen, ctxs = [], []

    def work(ctx):
        assert isinstance(ctx, JobContext) and ctx.client is None and not ctx.cancelled
        ctxs.append(ctx)
        ctx.emit("half", progress=0.5, status="halfway")
        return ctx.compute(pow, 2, 10)  # no client: runs here

    job = Job(work, on_update=seen.append, rate_hz=1e9)
    assert job.start().wait(60) == 1024 and seen == ["half"]
    job.cancel()
    ctx = ctxs[0]
    assert ctx.cancelled
    with pytest.raises(Cancelled):
        ctx.check()
    with pytest.raises(Cancelled):
        ctx.compute(pow, 2, 3)  # a cancelled job computes nothing more


def test_cluster_client_and_compute_on_the_client(monkeypatch):
    from distributed import Client

    from nephlab.widgets import cluster_client
    from nephlab.widgets import _base
    from nephlab.widgets._base import Job

    monkeypatch.setattr(_base, "_CLIENTS", {})  # no client cached by an earlier test
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        assert cluster_client(c) is c                      # a Client is returned as is
        assert cluster_client("local") is c                # "local" reuses the default client
        assert cluster_client("") is c                     # ... cached under "local"
        job = Job(lambda ctx: ctx.compute(sum, [1, 2, 3]), client=c).start()
        assert job.wait(60) == 6
    with pytest.raises(TypeError, match="cluster must be a str"):
        cluster_client(3)


# ------------------------------------------------------------------ nephlab.bench.grape, nephlab.bench.sweep


def test_bench_grape_gate_errors_closed_form():
    from nephlab.bench import grape as bg

    # no control: U = exp(-i ω σz T / 2), so |Tr(H† U)| / 2 = |sin(ω T / 2)| / √2 for the Hadamard H
    ov = abs(np.sin(bg.OMEGA * bg.T_END / 2)) / np.sqrt(2)
    e_qoc, e_sq = bg.gate_errors(np.zeros((3, bg.N_SLICES)))
    assert abs(e_qoc - (1 - ov)) < 1e-13 and abs(e_sq - (1 - ov**2)) < 1e-13


@pytest.mark.slow  # ~15 s: GRAPE compiles
def test_bench_grape_main_reaches_its_target(tmp_path, capsys):
    import json

    from nephlab.bench import grape as bg

    out = tmp_path / "g.json"
    assert bg.main(["--targets", "1e-3", "--repeats", "1", "--skip-qutip-qoc", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and rows[0]["qutip_qoc"] is None
    neph = rows[0]["nephlab"]
    # the gate error is recomputed independently (SciPy expm of the controls) by the benchmark
    assert neph["eps_qoc"] <= 1e-3 * 1.01, neph
    assert "GRAPE Hadamard benchmark" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_sweep_main_small(capsys):
    from nephlab.bench import sweep as bs

    assert bs._grid(40) == {"F": [0.1, 1.0], "gamma": np.logspace(-2, 0, 20).tolist()}
    assert bs.main(["--points", "4", "--n", "3", "--workers", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "sweep benchmark: lindblad n=3, 4 points (F x gamma = 4 x 1)" in out
    assert "| nephlab sweep, 1 worker | 1 |" in out and "| naive submit per point, 1 worker | 1 |" in out
    with pytest.raises(SystemExit):
        bs.main(["--points", "0"])
