"""LargeDeviationExplorer: θ(s), I(x), the s-ensemble, cloning and committor against exact results.

Closed forms:
- two-state activity SCGF ``θ(s) = -(a+b)/2 + sqrt((a-b)^2/4 + a b e^{-2s})``; for a = b = 1 the
  rate function is Poisson's ``I(x) = x ln x - x + 1``;
- ring random walk current ``θ(s) = p (e^{-s} - 1) + q (e^{s} - 1)``;
- TASEP on a ring (L sites, n = L/2 particles, hop rate p): mean current ``p n (L-n)/(L-1)``;
- East model (open, N spins, concentration c, product Bernoulli stationary law): mean activity
  per spin ``2 c (1-c) (1 + (N-1) c) / N`` (spin 0 always facilitated, spin i by spin i-1).
"""

from __future__ import annotations


import numpy as np
import pytest

pn = pytest.importorskip("panel")

from nephlab.largedev import two_state_scgf  # noqa: E402
from nephlab.widgets.largedev import (  # noqa: E402
    LD_SPEC,
    LargeDeviationExplorer,
    activity_curves,
    parse_rate_matrix,
)


def test_two_state_theta_matches_closed_form():
    ex = LargeDeviationExplorer(model="two_state", a=1.0, b=3.0, n_s=21)
    np.testing.assert_allclose(ex.theta, two_state_scgf(1.0, 3.0, ex.s), rtol=0, atol=1e-12)
    assert abs(np.interp(0.0, ex.s, ex.theta)) < 1e-12


def test_poisson_rate_function():
    ex = LargeDeviationExplorer(model="two_state", a=1.0, b=1.0, s_min=-2.0, s_max=2.0, n_s=81)
    x, I = ex.x_rate, ex.I_rate
    np.testing.assert_allclose(I, x * np.log(x) - x + 1.0, rtol=0, atol=1e-7)


def test_model_switch_recomputes_theta():
    ex = LargeDeviationExplorer(n_s=11)
    first, n0 = ex.theta.copy(), ex.n_redraws
    ex.param.update(model="random_walk", observable="current", L=5, p=2.0, q=1.0)
    assert ex.n_redraws > n0
    s = ex.s
    np.testing.assert_allclose(ex.theta, 2.0 * np.expm1(-s) + 1.0 * np.expm1(s), rtol=0, atol=1e-10)
    assert not np.allclose(ex.theta, first)
    # a model without a current falls back to the activity, with a message
    ex.model = "two_state"
    assert ex.observable == "activity" and "activity" in ex.status
    np.testing.assert_allclose(ex.theta, two_state_scgf(ex.a, ex.b, s), atol=1e-12)


def test_tasep_mean_current_and_east_activity_in_s_ensemble():
    v = LD_SPEC.validate({"model": "tasep", "observable": "current", "L": 6, "p": 1.5})
    cur = activity_curves(v, [0.0])
    for L, k in cur.items():
        n = L // 2
        assert k[0] * L == pytest.approx(1.5 * n * (L - n) / (L - 1), rel=1e-9)
    assert sorted(cur) == [4, 5, 6]
    c = 0.3
    v = LD_SPEC.validate({"model": "east", "N": 4, "c": c})
    act = activity_curves(v, [0.0, 1.0])
    for N, k in act.items():
        assert k[0] == pytest.approx(2 * c * (1 - c) * (1 + (N - 1) * c) / N, rel=1e-9)
        assert k[1] < k[0]  # s > 0 suppresses activity


def test_custom_rate_matrix_and_errors():
    ex = LargeDeviationExplorer(model="custom", rates="0 2; 1 0", n_s=7)
    np.testing.assert_allclose(ex.theta, two_state_scgf(2.0, 1.0, ex.s), atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        parse_rate_matrix("0 1 2; 1 0")
    with pytest.raises(ValueError, match="rates"):
        parse_rate_matrix("0 -1; 1 0")
    before = ex.theta.copy()
    ex.rates = "0 x; 1 0"  # refused with a message, the plot keeps the last valid model
    assert "rates" in ex.status and np.array_equal(ex.theta, before)
    with pytest.raises(ValueError, match="s_min"):
        LargeDeviationExplorer(s_min=1.0, s_max=0.0)


def test_cloning_streams_and_converges_to_exact_scgf():
    ex = LargeDeviationExplorer(model="two_state", a=1.0, b=3.0, s_clone=0.5, n_clones=200, t_max=20.0, n_runs=4,
                                seed=3)
    runs = ex.run_cloning(background=False)
    assert len(runs) == 4 and len(ex.clone_runs) == 4 and ex.updates >= 1
    exact = two_state_scgf(1.0, 3.0, 0.5)
    assert ex.clone_exact == pytest.approx(exact, abs=1e-12)
    est, err = ex.clone_estimate()
    # 5 sigma statistical error plus the O(1/n_clones) population bias (~0.005 for 200 clones)
    assert abs(est - exact) < 5 * err + 0.01
    # the running estimate approaches the exact value: late times closer than early ones on average
    r = np.mean([run["running"] for run in runs], axis=0)
    assert abs(r[-1] - exact) < abs(r[0] - exact) + 1e-12


def test_committor_and_transition_paths(tmp_path):
    ex = LargeDeviationExplorer(n_s=5, h=0.1, n_paths=2, beta=0.05)
    res = ex.compute_committor(background=False)
    c = ex.committor
    q, X, Y = c["q"], *np.meshgrid(c["x"], c["y"], indexing="ij")
    assert q.min() == 0.0 and q.max() == 1.0
    assert np.all(q[(X + 0.558) ** 2 + (Y - 1.442) ** 2 <= 0.15**2] == 0.0)
    assert np.all(q[(X - 0.623) ** 2 + (Y - 0.028) ** 2 <= 0.15**2] == 1.0)
    assert len(res["paths"]) == 2
    for path in ex.paths:
        t, x, y = path.T
        assert np.all(np.diff(t) > 0)
        assert (x[-1] - 0.623) ** 2 + (y[-1] - 0.028) ** 2 <= 0.15**2 + 1e-12  # ends in B
        assert (x[0] + 0.558) ** 2 + (y[0] - 1.442) ** 2 > 0.15**2  # starts just outside A
        assert (x[0] + 0.558) ** 2 + (y[0] - 1.442) ** 2 <= (0.15 + 0.1 * 1.5) ** 2
    gif = ex.export_playback(tmp_path / "path.gif", n_frames=4)
    assert gif.read_bytes()[:3] == b"GIF"


def test_exports_and_panel(tmp_path):
    import xarray as xr

    ex = LargeDeviationExplorer(model="east", N=4, n_s=11)
    ds = xr.load_dataset(ex.export(tmp_path / "ld.nc"), engine="h5netcdf")
    np.testing.assert_allclose(ds["theta"].values, ex.theta)
    assert ds.attrs["model"] == "east"
    assert ex.export(tmp_path / "ld.png").read_bytes()[:4] == b"\x89PNG"
    layout = ex.__panel__()
    assert layout.get_root() is not None
    css = {c for obj in layout.select() for c in (getattr(obj, "css_classes", None) or [])}
    assert {"nl-theta", "nl-rate-function", "nl-phase-diagram", "nl-ld-model", "nl-clone-run", "nl-player"} <= css
