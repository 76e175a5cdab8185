"""The result classes of nephlab.stochastic and nephlab.control share nephlab._result.ResultBase
(issue 10, item 13): declared fields -> to_xarray with dims and units, a compact repr, save()."""

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from nephlab._result import ResultBase
from nephlab.control import grape, lqr, optimal_protocol, solve_pmp
from nephlab.control.protocols import Protocol
from nephlab.stochastic import bar, crooks, jarzynski, overdamped_langevin, underdamped_langevin

SX = np.array([[0, 1], [1, 0]])
RNG = np.random.default_rng(0)
WF, WR = RNG.normal(1.5, 1.4, 400), RNG.normal(0.5, 1.4, 400)


def _trap(x, lam):
    return 0.5 * (x - lam) ** 2


def _stiff(x, lam):
    return 0.5 * lam * jnp.sum(x**2)


# name -> (builder, {variable: (dims, units)}, attrs expected)
CASES = {
    "jarzynski": (lambda: jarzynski(WF, n_boot=10, seed=0),
                  {"value": ((), "energy"), "ci": (("bound",), "energy"), "exp_avg": ((), "1")}, ["n", "warnings"]),
    "crooks": (lambda: crooks(WF, WR, bins=10, n_boot=5, seed=0),
               {"value": ((), "energy"), "bin_edges": (("bin_edge",), "energy"), "slope": ((), "1/energy")},
               ["n_overlap_bins"]),
    "bar": (lambda: bar(WF, WR, n_boot=5, seed=0),
            {"value": ((), "energy"), "ci": (("bound",), "energy"), "n_accept": ((), "1")}, ["warnings"]),
    "langevin_batched": (
        lambda: overdamped_langevin(_trap, "equilibrium", np.linspace(0, 1, 11), dt=0.1, n_traj=3, seed=0,
                                    kBT=np.array([1.0, 2.0]), save_every=5),
        {"work": (("batch_0", "traj"), "energy"), "x": (("batch_0", "traj", "time"), "length"),
         "work_t": (("batch_0", "traj", "time"), "energy"), "kBT": (("batch_0",), "energy"),
         "entropy_medium": (("batch_0", "traj"), "k_B"), "time": (("time",), "time")},
        ["method", "dt", "n_steps", "stats"]),
    "langevin_underdamped_2d": (
        lambda: underdamped_langevin(_stiff, np.zeros(2), lambda t: 1.0, dt=0.1, n_steps=4, n_traj=3, seed=0,
                                     x_shape=(2,)),
        {"x_final": (("traj", "space_0"), "length"), "v_final": (("traj", "space_0"), "length/time"),
         "shadow_work": (("traj",), "energy")}, ["method"]),
    "grape": (lambda: grape(np.zeros((2, 2)), [SX], [1, 0], [0, 1], 1.0, 4, u_bounds=(-2, 2)),
              {"controls": (("control", "slice"), "energy"), "infidelity_history": (("iteration",), "1"),
               "times": (("edge",), "1/energy")}, ["iterations", "converged", "message"]),
    "lqr_infinite": (lambda: lqr([[0, 1], [0, 0]], [[0], [1]], np.eye(2), 1.0),
                     {"K": (("input", "state"), None), "P": (("state", "state_"), None),
                      "closed_loop_eigenvalues": (("mode",), "1/time (1/A)")}, ["horizon"]),
    "lqr_finite": (lambda: lqr(1.0, 1.0, 1.0, 1.0, horizon=1.0, n_points=5),
                   {"K": (("time", "input", "state"), None), "time": (("time",), "time (1/A)")}, ["horizon"]),
    "pmp": (lambda: solve_pmp(lambda x, u, t: jnp.array([x[1], u[0]]), lambda x, u, t: 0.5 * u[0] ** 2,
                              [-1.0, 0.0], 1.0, xT=[0.0, 0.0], n_steps=10),
            {"x": (("time", "state"), None), "u": (("time", "control"), None), "cost": ((), "cost"),
             "time": (("time",), "time")},
            ["converged", "control_mode"]),
    "protocol_nodes": (lambda: optimal_protocol("trap_translation", lam_f=5.0, tau=1.0),
                       {"lam": (("point",), "length"), "node_lam": (("node",), "length"), "work": ((), "energy")},
                       ["kind", "tau", "gamma", "kBT"]),
    "protocol_rational": (lambda: optimal_protocol("stiffness", k_i=1.0, k_f=2.0, tau=1.0),
                          {"lam": (("point",), "energy/length^2"), "rational_p": (("p",), None)},
                          ["family", "lam_i", "lam_f"]),
}


@pytest.fixture(scope="module")
def results():
    return {name: build() for name, (build, _, _) in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_is_a_result_with_declared_dataset(name, results):
    r = results[name]
    assert isinstance(r, ResultBase)
    ds = r.to_xarray()
    assert ds.attrs["result_type"] == type(r).__name__
    _, variables, attrs = CASES[name]
    for v, (dims, units) in variables.items():
        assert ds[v].dims == dims, (v, ds[v].dims)
        if units is not None:
            assert ds[v].attrs["units"] == units, v
    assert set(attrs) <= set(ds.attrs), set(attrs) - set(ds.attrs)
    text = repr(r)
    assert text.startswith(type(r).__name__ + "(") and "\n" not in text and len(text) < 700


@pytest.mark.parametrize("name", list(CASES))
def test_save_round_trips(name, results, tmp_path):
    r = results[name]
    ds = r.to_xarray()
    path = r.save(tmp_path / "r.nc")
    back = xr.open_dataset(path, engine="h5netcdf")
    for v in ds.variables:
        np.testing.assert_array_equal(back[v].values, ds[v].values, err_msg=v)
    back.close()
    with pytest.raises(ValueError, match="exists"):
        r.save(path)


def test_zarr_round_trip_of_a_batched_ensemble(results, tmp_path):
    r = results["langevin_batched"]
    back = xr.open_zarr(r.save(tmp_path / "r.zarr"), consolidated=False)
    np.testing.assert_array_equal(back.work.values, np.asarray(r.work))
    np.testing.assert_array_equal(back.time.values, r.times)


def test_protocol_keeps_its_one_line_str():
    p = optimal_protocol("trap_translation", lam_f=5.0, tau=1.0)
    assert str(p) == "Protocol(kind='trap_translation', tau=1, lam: 0 -> 1.667 ... 3.333 -> 5, work=8.33333)"
    assert isinstance(p, Protocol) and repr(p).startswith("Protocol(kind='trap_translation', tau=1, lam_i=0, lam_f=5, family='nodes'")
