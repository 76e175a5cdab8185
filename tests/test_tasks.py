"""nephlab.tasks: spec validation, JSON Schema, registry, and the lindblad task against exact
results, a direct mesolve call and QuTiP."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import xarray as xr

import nephlab
from nephlab.tasks import Param, Task, TaskSpec, estimate, get_task, register, run_batch, run_task, task_names
from nephlab.tasks import lindblad_custom

# ------------------------------------------------------------------------------------------------
# spec validation
# ------------------------------------------------------------------------------------------------

SPEC = get_task("lindblad").spec


def test_defaults_and_int_to_float():
    p = SPEC.validate({"gamma": 1, "n": np.int64(6), "F": np.float32(0.5)})
    assert p["gamma"] == 1.0 and type(p["gamma"]) is float
    assert p["n"] == 6 and type(p["n"]) is int
    assert type(p["F"]) is float
    assert list(p) == SPEC.names
    assert json.loads(json.dumps(p)) == p  # plain JSON
    assert SPEC.validate({}) == SPEC.defaults()


@pytest.mark.parametrize(
    "values, exc, words",
    [
        ({"foo": 1}, ValueError, ["'lindblad'", "'foo'", "gamma"]),
        ({"gamma": "fast"}, TypeError, ["'gamma'", "'fast'", "number"]),
        ({"n": True}, TypeError, ["'n'", "True", "bool"]),
        ({"gamma": True}, TypeError, ["'gamma'", "bool"]),
        ({"n": 4.5}, TypeError, ["'n'", "4.5", "integer"]),
        ({"F": float("nan")}, ValueError, ["'F'", "nan", "finite"]),
        ({"F": float("inf")}, ValueError, ["'F'", "inf", "finite"]),
        ({"F": 10**400}, ValueError, ["'F'", "too large"]),
        ({"gamma": 0.0}, ValueError, ["'gamma'", "0.0", "gamma > 0", "1/time"]),
        ({"gamma": -1}, ValueError, ["'gamma'", "-1", "gamma > 0"]),
        ({"n": 1}, ValueError, ["'n'", "1", "2 <= n <= 200"]),
        ({"model": "laser"}, ValueError, ["'model'", "'laser'", "'oscillator'", "'qubit'"]),
        ({"model": 3}, TypeError, ["'model'", "3", "string"]),
        ({"method": "euler"}, ValueError, ["'method'", "'euler'", "'tsit5'"]),
        ({"model": "spin_chain", "n": 20}, ValueError, ["'n'", "20", "spin_chain", "n <= 10"]),
    ],
)
def test_validation_errors_name_parameter_value_and_allowed(values, exc, words):
    with pytest.raises(exc) as err:
        SPEC.validate(values)
    msg = str(err.value)
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_task_and_param_lookup():
    with pytest.raises(ValueError, match=r"unknown task 'nope'; available: .*lindblad"):
        get_task("nope")
    with pytest.raises(ValueError, match=r"unknown task 'nope'"):
        run_task("nope")
    with pytest.raises(ValueError, match=r"task 'lindblad' has no parameter 'foo'; parameters: model, n, F"):
        SPEC.param("foo")
    with pytest.raises(ValueError, match="'foo'"):
        run_task("lindblad", foo=1)
    with pytest.raises(ValueError, match=r"points\[1\]: .*'gamma'"):
        run_batch("lindblad", [{}, {"gamma": -1.0}])
    with pytest.raises(TypeError, match="mapping"):
        SPEC.validate([("F", 1.0)])


def test_param_declaration_errors():
    with pytest.raises(ValueError, match="'default'|out of range"):
        Param("x", "float", -1.0, "x", minimum=0.0)
    with pytest.raises(ValueError, match="type must be one of"):
        Param("x", "complex", 1.0, "x")
    with pytest.raises(ValueError, match="duplicate"):
        TaskSpec("t", "d", (Param("x", "int", 1, "x"), Param("x", "int", 2, "x")))
    with pytest.raises(ValueError, match="already registered"):
        register(get_task("lindblad"))


def test_param_parse_from_strings():
    assert SPEC.param("F").parse("0.5") == 0.5
    assert SPEC.param("n").parse("12") == 12
    assert SPEC.param("model").parse("qubit") == "qubit"
    flag = Param("flag", "bool", False, "switch")
    assert flag.parse("true") is True and flag.parse("off") is False
    with pytest.raises(ValueError, match="'flag' = 'maybe' is not a boolean"):
        flag.parse("maybe")
    with pytest.raises(ValueError, match="'F' = 'abc' is not a number"):
        SPEC.param("F").parse("abc")
    with pytest.raises(ValueError, match="out of range"):
        SPEC.param("gamma").parse("-2")


def test_json_schema_of_every_task_validates_defaults_and_rejects_bad():
    for name in task_names():
        spec = get_task(name).spec
        schema = spec.json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema)
        v.validate(spec.defaults())
        v.validate(json.loads(json.dumps(spec.defaults())))
        assert schema["additionalProperties"] is False
        with pytest.raises(jsonschema.ValidationError):
            v.validate({**spec.defaults(), "not_a_param": 1})
    schema = SPEC.json_schema()
    v = jsonschema.Draft202012Validator(schema)
    assert schema["properties"]["gamma"]["exclusiveMinimum"] == 0.0
    for bad in ({"gamma": 0.0}, {"n": 2.5}, {"model": "laser"}, {"n": True}):
        assert not v.is_valid(bad), bad


# ------------------------------------------------------------------------------------------------
# the lindblad task
# ------------------------------------------------------------------------------------------------


def _coherent_alpha(F, gamma, delta, t):
    """α(t) of H = δa†a + F(a+a†), L = √γ a from the vacuum: α_ss (1 - e^{-(γ/2 + iδ)t})."""
    alpha_ss = -1j * F / (gamma / 2 + 1j * delta)
    return alpha_ss * (1 - np.exp(-(gamma / 2 + 1j * delta) * t))


def test_oscillator_matches_closed_form_coherent_state():
    F, gamma, delta = 0.3, 0.6, 0.4
    ds = run_task("lindblad", F=F, gamma=gamma, delta=delta, n=16, t_max=12.0, n_times=25, method="expm")
    t = ds.time.values
    alpha = _coherent_alpha(F, gamma, delta, t)
    # truncation at 16 levels: P(k >= 16) of a coherent state with |α|² <= 0.3 is < 1e-20;
    # the expm method is exact up to round-off.
    np.testing.assert_allclose(ds.n_mean.values, np.abs(alpha) ** 2, atol=1e-10)
    np.testing.assert_allclose(ds.purity.values, 1.0, atol=1e-10)
    np.testing.assert_allclose(ds.entropy.values, 0.0, atol=1e-6)  # -λ ln λ of round-off eigenvalues
    # the final state is the coherent state |α(t_max)><α(t_max)|
    a = alpha[-1]
    k = np.arange(16)
    psi = np.exp(-abs(a) ** 2 / 2) * a**k / np.sqrt([math.factorial(int(j)) for j in k])
    rho = np.outer(psi, psi.conj())
    np.testing.assert_allclose(ds.rho_final_real.values + 1j * ds.rho_final_imag.values, rho, atol=1e-10)
    # steady state <n> = F²/(δ² + γ²/4); with δ = 0 it is 4F²/γ²
    ds0 = run_task("lindblad", F=0.25, gamma=0.5, delta=0.0, n=14, t_max=80.0, n_times=3)
    assert abs(ds0.n_mean.values[-1] - 4 * 0.25**2 / 0.5**2) < 1e-6  # e^{-γ t/2} = e^{-20}


def test_qubit_steady_state_closed_form():
    F, gamma, delta = 0.4, 1.0, 0.3
    ds = run_task("lindblad", model="qubit", F=F, gamma=gamma, delta=delta, t_max=80.0, n_times=3)
    pe = F**2 / (delta**2 + gamma**2 / 4 + 2 * F**2)  # resonance fluorescence, Rabi frequency 2F
    assert abs(ds.n_mean.values[-1] - pe) < 1e-9
    assert ds.rho_final_real.shape == (2, 2)


def test_lindblad_matches_direct_mesolve_call():
    from nephlab.quantum import destroy, fock_dm

    p = dict(F=0.2, gamma=0.3, kerr=0.5, delta=-0.2, nth=0.1, n=8, t_max=5.0, n_times=11, method="tsit5")
    ds = run_task("lindblad", p)
    a = np.asarray(destroy(8))
    ad = a.conj().T
    H = -0.2 * ad @ a + 0.25 * ad @ ad @ a @ a + 0.2 * (a + ad)
    c = [np.sqrt(0.3 * 1.1) * a, np.sqrt(0.3 * 0.1) * ad]
    res = nephlab.mesolve(H, fock_dm(8, 0), np.linspace(0, 5, 11), c, e_ops=[ad @ a], method="tsit5")
    np.testing.assert_allclose(ds.n_mean.values, res.expect[0], atol=1e-12)
    np.testing.assert_allclose(ds.purity.values, res.purity(), atol=1e-12)
    np.testing.assert_allclose(ds.rho_final_real.values, np.asarray(res.final_state).real, atol=1e-12)


def test_coupled_qubits_and_spin_chain_against_qutip():
    qutip = pytest.importorskip("qutip")
    F, gamma, delta, J, nth = 0.3, 0.4, 0.2, 0.7, 0.2
    N = 3
    sm = [qutip.tensor([qutip.sigmam() if j == i else qutip.qeye(2) for j in range(N)]) for i in range(N)]
    sz = [qutip.tensor([qutip.sigmaz() if j == i else qutip.qeye(2) for j in range(N)]) for i in range(N)]
    sx = [qutip.tensor([qutip.sigmax() if j == i else qutip.qeye(2) for j in range(N)]) for i in range(N)]
    H = sum(0.5 * delta * sz[i] + F * sx[i] for i in range(N))
    H += sum(J * (sm[i].dag() * sm[i + 1] + sm[i + 1].dag() * sm[i]) for i in range(N - 1))
    c = [np.sqrt(gamma * (1 + nth)) * s for s in sm] + [np.sqrt(gamma * nth) * s.dag() for s in sm]
    psi0 = qutip.tensor([qutip.basis(2, 1)] * N)
    tl = np.linspace(0, 4.0, 9)
    ref = qutip.mesolve(H, qutip.ket2dm(psi0), tl, c, e_ops=[sum(s.dag() * s for s in sm)],
                        options={"atol": 1e-12, "rtol": 1e-10, "store_final_state": True})
    ds = run_task("lindblad", model="spin_chain", n=N, F=F, gamma=gamma, delta=delta, J=J, nth=nth,
                  t_max=4.0, n_times=9)
    np.testing.assert_allclose(ds.n_mean.values, ref.expect[0], atol=1e-7)  # tsit5 at rtol 1e-6, atol 1e-8
    rho = ds.rho_final_real.values + 1j * ds.rho_final_imag.values
    np.testing.assert_allclose(rho, ref.final_state.full(), atol=1e-7)
    ds2 = run_task("lindblad", model="coupled_qubits", F=F, gamma=gamma, delta=delta, J=J, t_max=4.0, n_times=9)
    ds3 = run_task("lindblad", model="spin_chain", n=2, F=F, gamma=gamma, delta=delta, J=J, t_max=4.0, n_times=9)
    np.testing.assert_allclose(ds2.n_mean.values, ds3.n_mean.values, atol=1e-12)  # two spins = coupled qubits


def test_run_batch_equals_run_task_and_uses_one_batched_call(monkeypatch):
    points = [dict(F=F, gamma=g, kerr=0.3, n=6, t_max=3.0, n_times=7) for F in (0.1, 0.4) for g in (0.2, 0.5)]
    points.append(dict(F=0.2, model="qubit", t_max=3.0, n_times=7))  # another batch key
    singles = [run_task("lindblad", p) for p in points]
    calls: list = []
    real = nephlab.mesolve

    def counting(H, *args, **kw):
        calls.append(np.shape(H))
        return real(H, *args, **kw)

    monkeypatch.setattr(nephlab, "mesolve", counting)
    batch = run_batch("lindblad", points)
    assert sorted(calls) == sorted([(4, 6, 6), (1, 2, 2)])  # one call per batch key
    for s, b in zip(singles, batch):
        for v in ("n_mean", "entropy", "purity", "rho_final_real", "rho_final_imag"):
            np.testing.assert_allclose(b[v].values, s[v].values, atol=1e-10, rtol=0)
        assert json.loads(b.attrs["params"]) == json.loads(s.attrs["params"])


def test_provenance_attrs():
    ds = run_task("lindblad", {"F": 0.1}, n=4, n_times=3)
    assert ds.attrs["task"] == "lindblad"
    p = json.loads(ds.attrs["params"])
    assert p == SPEC.validate({"F": 0.1, "n": 4, "n_times": 3})
    assert ds.attrs["nephlab_version"] == nephlab.__version__
    assert ds.attrs["device"] in ("cpu", "gpu")
    assert ds.attrs["wall_time_s"] > 0
    for v in ds.data_vars.values():
        assert v.dtype.kind == "f"
    assert ds.time.attrs["units"] == "time"


def test_dataset_round_trip_netcdf_and_zarr(tmp_path):
    ds = run_task("lindblad", n=5, n_times=4, F=0.2)
    ds.to_netcdf(tmp_path / "r.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "r.nc", engine="h5netcdf")
    xr.testing.assert_identical(back, ds)
    ds.to_zarr(tmp_path / "r.zarr")
    backz = xr.open_zarr(tmp_path / "r.zarr").load()
    xr.testing.assert_allclose(backz, ds, rtol=0, atol=0)
    assert backz.attrs["params"] == ds.attrs["params"]


def test_same_shapes_for_same_shape_params():
    a = run_task("lindblad", n=5, n_times=4, F=0.1, method="expm")
    b = run_task("lindblad", n=5, n_times=4, F=0.9, gamma=2.0, kerr=1.0)
    assert {k: v.shape for k, v in a.data_vars.items()} == {k: v.shape for k, v in b.data_vars.items()}


def test_fixed_step_method_uses_dt():
    ds = run_task("lindblad", n=6, t_max=2.0, n_times=5, method="rk4", dt=0.01, F=0.2, gamma=0.5)
    alpha = _coherent_alpha(0.2, 0.5, 0.0, ds.time.values)
    np.testing.assert_allclose(ds.n_mean.values, np.abs(alpha) ** 2, atol=1e-8)  # RK4 error ~ dt^4


def test_estimate_lindblad():
    e = estimate("lindblad", n=10)
    assert set(e) >= {"memory_bytes", "seconds", "executor", "device", "params"}
    assert e["executor"] == "in-process" and e["device"] == "cpu"
    big = estimate("lindblad", model="spin_chain", n=7, t_max=100.0, method="tsit5")
    assert big["device"] == "gpu" and big["memory_bytes"] > e["memory_bytes"]
    assert big["seconds"] > e["seconds"]


def test_lindblad_custom():
    a = np.diag(np.sqrt(np.arange(1, 12.0)), 1)
    H = 0.3 * (a + a.T)
    ds = lindblad_custom(H, [np.sqrt(0.6) * a], np.diag([1.0] + [0.0] * 11), t_max=3.0, n_times=4,
                         e_ops={"n": a.T @ a, "a": a})
    alpha = _coherent_alpha(0.3, 0.6, 0.0, ds.time.values)
    np.testing.assert_allclose(ds.n.values, np.abs(alpha) ** 2, atol=1e-7)
    np.testing.assert_allclose(ds.a_real.values + 1j * ds.a_imag.values, alpha, atol=1e-6)
    assert ds.attrs["task"] == "lindblad_custom"
    with pytest.raises(ValueError, match="t_max"):
        lindblad_custom(H, [a], np.eye(12) / 12, t_max=-1.0)
    with pytest.raises(ValueError, match="e_ops key 'purity'"):
        lindblad_custom(H, [a], np.eye(12) / 12, e_ops={"purity": a})


def test_custom_task_registration_and_fn_without_batch():
    spec = TaskSpec("t_square_test", "x squared", (Param("x", "float", 2.0, "input", units="m"),))
    t = Task(spec, fn=lambda p: {"y": np.array(p["x"] ** 2)},
             to_dataset=lambda out, p: xr.Dataset({"y": ((), out["y"])}))
    dss = run_batch(t, [{"x": 1}, {"x": 3.0}])
    assert [float(d.y) for d in dss] == [1.0, 9.0]
    with pytest.raises(ValueError, match="does not provide an estimate"):
        estimate(t)
    bad = Task(spec, fn=lambda p: {"y": np.array(1j)}, to_dataset=lambda out, p: xr.Dataset())
    with pytest.raises(TypeError, match="complex"):
        run_task(bad)


# ------------------------------------------------------------------------------------------------
# device choice
# ------------------------------------------------------------------------------------------------


def test_device_param_resources_and_errors(monkeypatch):
    import jax

    t = get_task("lindblad")
    assert t.resources(SPEC.validate({"device": "gpu"})) == {"GPU": 1}
    assert t.resources(SPEC.validate({})) == {}
    ds = run_task("lindblad", n=4, n_times=3, device="cpu")
    assert ds.attrs["device"] == "cpu"
    ref = run_task("lindblad", n=4, n_times=3)
    np.testing.assert_allclose(ds.n_mean.values, ref.n_mean.values, atol=1e-12)
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(ValueError, match="parameter 'device' = 'gpu', but JAX finds no gpu device"):
            run_task("lindblad", n=4, n_times=3, device="gpu")
    monkeypatch.setenv("NEPHLAB_DEVICE", "gpu")
    with pytest.raises(ValueError, match="conflicts with the environment variable NEPHLAB_DEVICE='gpu'"):
        run_task("lindblad", n=4, n_times=3, device="cpu")


@pytest.mark.gpu
def test_device_gpu_matches_cpu():
    a = run_task("lindblad", n=8, n_times=5, device="gpu", kerr=0.3)
    b = run_task("lindblad", n=8, n_times=5, device="cpu", kerr=0.3)
    assert a.attrs["device"] == "gpu"
    np.testing.assert_allclose(a.n_mean.values, b.n_mean.values, atol=1e-10)
    s = run_batch("steadystate", [{"F": 0.2, "device": "gpu"}, {"F": 0.3, "device": "gpu"}])
    assert abs(float(s[0].n_ss) - 0.16) < 1e-9


# ------------------------------------------------------------------------------------------------
# properties of Param.check
# ------------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    lo=st.floats(-1e6, 1e6), width=st.floats(1e-3, 1e6), excl_lo=st.booleans(), excl_hi=st.booleans(),
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30)),
)
def test_float_param_accepts_exactly_the_values_in_range(lo, width, excl_lo, excl_hi, value):
    hi = lo + width
    p = Param("x", "float", lo + width / 2, "x", minimum=lo, maximum=hi, exclusive_minimum=excl_lo,
              exclusive_maximum=excl_hi)
    f = float(value) if abs(value) < 1e300 or isinstance(value, float) else math.inf
    ok = math.isfinite(f) and (f > lo if excl_lo else f >= lo) and (f < hi if excl_hi else f <= hi)
    if ok:
        assert p.check(value, "t") == f
    else:
        with pytest.raises(ValueError, match=r"parameter 'x' = "):
            p.check(value, "t")


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2)))
def test_non_numbers_are_type_errors(value):
    for typ in ("float", "int"):
        with pytest.raises(TypeError, match=r"parameter 'x' = .* has type"):
            Param("x", typ, 1, "x").check(value, "t")


# ---------------------------------------------------------------------------------------------
# methods: a new method is one module (issue 10, item 12)
# ---------------------------------------------------------------------------------------------

_TOY_METHOD = '''
"""A toy method defined and registered in ONE module: Heun's rule (explicit trapezoid, order 2)."""
from dataclasses import dataclass
from typing import ClassVar

from nephlab.quantum import _engine, _ops
from nephlab.quantum.methods import FixedStepMethod, register


@register
@dataclass(frozen=True, repr=False)
class Heun(FixedStepMethod):
    name: ClassVar[str] = "heun"
    rhs_per_step: ClassVar[float] = 2.0

    def solve(self, st, dyn):
        rhs = _engine.make_rhs(st, dyn)

        def step(y, t, h):
            k1 = rhs(t, y)
            return y + 0.5 * h * (k1 + rhs(t + h, y + h * k1))

        return _engine._fixed_step_loop(st, dyn, step, dyn["rho0"], _ops.merge, dyn["tlist"], dyn["dt"], evals_per_step=2)

    def memory_bytes(self, problem):
        return problem.base_bytes() + problem.stored_copy_bytes() + problem.batch * problem.state_bytes * 10
'''

_TOY_CHECKS = '''
import numpy as np
import toy_heun  # registers "heun" before the tasks are imported
import nephlab
from nephlab.tasks import estimate, get_task, run_task
from nephlab.tasks import lindblad as L

assert "heun" in get_task("lindblad").spec.param("method").choices, "task spec choices"
assert "heun" in L.FIXED_STEP and "heun" in L.SPEC.param("dt").doc, "fixed-step set"
assert L.solver_kwargs({"method": "heun", "rtol": 1e-6, "atol": 1e-8, "dt": 0.02})["dt"] == 0.02
assert L.batch_key(L.SPEC.validate({"method": "heun", "dt": 0.02}))[5] == 0.02
ds = run_task("lindblad", n=6, t_max=1.0, n_times=3, method="heun", dt=0.001, F=0.2, gamma=0.5)
ref = run_task("lindblad", n=6, t_max=1.0, n_times=3, method="expm", F=0.2, gamma=0.5)
assert np.abs(ds.n_mean.values - ref.n_mean.values).max() < 1e-5, "heun solves the task"
e = estimate("lindblad", n=6, method="heun", dt=0.01)
assert e["memory_bytes"] > 0 and e["seconds"] > 0
sz = np.diag([1.0, -1.0]).astype(complex)
rho = np.diag([1.0, 0.0]).astype(complex)
for call, needle in [(dict(method="tsit5", dt=0.01), "'heun'"), (dict(method="heun"), "needs dt"),
                     (dict(method="nosuch"), "'heun'")]:
    try:
        nephlab.mesolve(sz, rho, np.linspace(0, 1, 3), **call)
    except ValueError as err:
        assert needle in str(err), (call, str(err))
    else:
        raise AssertionError(call)
res = nephlab.mesolve(sz, rho, np.linspace(0, 1, 3), method="heun", dt=0.01)
assert res.method == "heun" and res.stats["rhs_evals"] == 200
print("OK")
'''


def test_a_method_registered_in_one_module_reaches_every_list(tmp_path):
    """A toy Method subclass, defined and registered in its own module, appears in the lindblad
    task's choices and fixed-step set, in mesolve's error messages, runs through the task and
    mesolve, and has a memory and time estimate, with no other file edited. It runs in a fresh
    process, so the registry of this one is untouched."""
    import os
    import subprocess
    import sys

    (tmp_path / "toy_heun.py").write_text(_TOY_METHOD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _TOY_CHECKS], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stdout[-2000:] + proc.stderr[-4000:]
