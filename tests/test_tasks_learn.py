"""The learned-control tasks: ``pinn_hjb`` (and ``ppo_protocol`` once merged) through the task
path that the CLI, sweeps and batch jobs use; accuracy against the exact references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from nephlab.cli import main
from nephlab.tasks import get_task, run_task


def test_pinn_hjb_defaults_are_the_solvers_defaults():
    from nephlab.learn import HJBConfig

    spec, cfg = get_task("pinn_hjb").spec, HJBConfig()
    for name in ("n_collocation", "adam_steps", "lbfgs_steps", "seed"):
        assert spec.param(name).default == getattr(cfg, name), name
    assert (spec.param("hidden_width").default,) * spec.param("hidden_layers").default == cfg.hidden


def test_pinn_hjb_lq1d_matches_riccati_on_the_output_grid():
    ds = run_task("pinn_hjb", problem="lq1d", adam_steps=300, lbfgs_steps=300, hidden_width=16, n_times=6, n_x=9)
    assert ds.attrs["task"] == "pinn_hjb" and ds.value.dims == ("time", "x") and ds.value.shape == (6, 9)
    scale = float(abs(ds.value_ref).max())
    err = float(abs(ds.value - ds.value_ref).max()) / scale
    assert err < 2e-3, err  # measured 3.7e-4 with this small budget (the solver's own tests go to 2.4e-5)
    assert float(ds.value_error_max) < 2e-3
    # the feedback on the grid is the Riccati law u* = -(b/r) P(t) x (a = b = q = r = 1)
    from nephlab.tasks.pinn_hjb import problem_from_params

    prob = problem_from_params(get_task("pinn_hjb").spec.validate({"problem": "lq1d"}))
    t, x = np.meshgrid(ds.time.values, ds.x.values, indexing="ij")
    u_exact = -prob.gain(t.ravel())[:, 0, 0] * x.ravel()
    assert np.max(np.abs(ds.control.values.ravel() - u_exact)) < 2e-2 * np.max(np.abs(u_exact))
    assert ds.loss.dims == ("step",) and ds.loss.size == 600 and float(ds.loss[-1]) < float(ds.loss[0])


def test_pinn_hjb_problems_and_their_references():
    from nephlab.learn import CubicHJB, LinearQuadraticHJB
    from nephlab.tasks.pinn_hjb import problem_from_params

    spec = get_task("pinn_hjb").spec
    osc = problem_from_params(spec.validate({"problem": "lq2d", "omega": 2.0, "b": 0.5, "D": 0.1}))
    assert isinstance(osc, LinearQuadraticHJB) and osc.dim == 2
    np.testing.assert_array_equal(osc.A, [[0.0, 1.0], [-4.0, 0.0]])
    np.testing.assert_array_equal(osc.B, [[0.0], [0.5]])
    np.testing.assert_array_equal(osc.D, 0.1 * np.eye(2))
    cub = problem_from_params(spec.validate({"problem": "cubic", "a": 2.0}))
    assert isinstance(cub, CubicHJB) and (cub.a, cub.tau) == (2.0, 1.0)
    # the cubic problem has its reference at sampled points only: NaN on the grid, errors still given
    ds = run_task("pinn_hjb", problem="cubic", adam_steps=5, lbfgs_steps=0, hidden_width=4, n_collocation=32,
                  n_times=2, n_x=3)
    assert np.isnan(ds.value_ref).all() and np.isfinite(ds.value).all() and np.isfinite(float(ds.value_error_max))
    active = set(spec.active({"problem": "cubic"}))
    assert "a" in active and "D" not in active and "omega" not in active


def test_pinn_hjb_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="tau"):
        run_task("pinn_hjb", tau=-1.0)
    with pytest.raises(ValueError, match="r"):
        run_task("pinn_hjb", r=0.0)
    with pytest.raises(ValueError, match=r"\ba\b"):  # the cubic drift must not push outward
        run_task("pinn_hjb", problem="cubic", a=-1.0, adam_steps=1, lbfgs_steps=0)


def test_pinn_hjb_from_the_cli(tmp_path):
    out = tmp_path / "v.nc"
    rc = main(["run", "pinn_hjb", "problem=lq1d", "adam_steps=10", "lbfgs_steps=0", "hidden_width=4",
               "n_collocation=32", "n_times=3", "n_x=4", "--out", str(out)])
    assert rc == 0
    ds = xr.open_dataset(out)
    assert ds.value.shape == (3, 4) and ds.attrs["task"] == "pinn_hjb"
    assert dataclasses.is_dataclass(get_task("pinn_hjb"))


@pytest.mark.slow
def test_ppo_protocol_learns_the_translation_optimum_through_the_task():
    ds = run_task("ppo_protocol", problem="trap_translation", lam_f=5.0, n_decisions=4, total_steps=300_000, n_eval=20_000)
    assert ds.attrs["task"] == "ppo_protocol" and ds.lam.dims == ("time",) and ds.lam.size == 4
    assert float(ds.work_optimal) == pytest.approx(25 / 3, rel=1e-12)  # Schmiedl–Seifert, lam_f = 5
    # 300k steps on 4 decisions: within 2 % of W* (measured 0.7 %; the 1 % target with 8 decisions
    # and 1e6 steps is tests/test_learn_ppo.py); a piecewise protocol cannot beat W*
    assert 0.0 <= float(ds.relative_gap) < 0.02
    # the sampled estimate agrees with the noiseless one (W Gaussian, var = 2 kBT <W>: SE ~ 0.03)
    assert abs(float(ds.work_mean) - float(ds.work_exact_moments)) < 4 * float(ds.work_se)
    assert np.all(np.diff(ds.env_steps.values) > 0) and ds.returns.size == ds["update"].size
    assert np.max(np.abs(ds.lam - ds.lam_exact)) < 1.0  # the shape of the optimum (jumps, linear ramp)


def test_ppo_protocol_shares_the_optimal_protocol_parameters():
    ppo, opt = get_task("ppo_protocol").spec, get_task("optimal_protocol").spec
    for name in ("problem", "tau", "lam_i", "lam_f", "k", "k_i", "k_f", "gamma", "kBT"):
        assert ppo.param(name) is opt.param(name), name


def test_ppo_protocol_stiffness_from_the_cli_and_bad_input(tmp_path):
    out = tmp_path / "p.nc"
    assert main(["run", "ppo_protocol", "problem=stiffness", "k_i=1", "k_f=3", "n_decisions=2", "total_steps=64",
                 "n_envs=16", "n_eval=100", "--out", str(out)]) == 0
    ds = xr.open_dataset(out)
    ref = run_task("optimal_protocol", problem="stiffness", k_i=1.0, k_f=3.0)
    assert ds.attrs["task"] == "ppo_protocol" and ds.lam.shape == (2,) and ds.returns.size == 2
    assert float(ds.work_optimal) == pytest.approx(float(ref.work), rel=1e-12)
    assert ds.lam.attrs["units"] == "energy/length²"
    assert float(ds.work_exact_moments) >= float(ds.work_optimal) * (1 - 1e-9)  # nothing beats the optimum
    with pytest.raises(ValueError, match="tau"):
        run_task("ppo_protocol", tau=0.0)
    with pytest.raises(ValueError, match="k_f"):
        run_task("ppo_protocol", problem="stiffness", k_f=-1.0)
    with pytest.raises(ValueError, match="total_steps"):
        run_task("ppo_protocol", total_steps=10)  # less than one update of n_envs * n_decisions
