"""The public surface of ``nephlab.mesolve`` and its ``Result``.

Input forms (Qobj, kets, dict e_ops, options dict), result accessors and exports, the choice made
by ``method="auto"``, agreement of the three time-dependent forms of H, ``args``, and that a
second call with the same shapes compiles nothing.

Most tests share one qubit problem and run ``expm`` (cheap to compile); the time-dependent ones
share one fine tlist so that their compiled programs are reused.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab import Result, mesolve
from nephlab.quantum import Expm, RK4, Tsit5, _engine, destroy, sigmam, sigmax, sigmaz
from method_cases import FIXED_STEP, method_params, options_for

SZ = np.asarray(sigmaz())
SX = np.asarray(sigmax())
SM = np.asarray(sigmam())
H = 0.5 * SZ + 0.3 * SX
C_OPS = [np.sqrt(0.2) * SM, np.sqrt(0.05) * SZ]
KET = np.array([0.6, 0.8j])
RHO = np.outer(KET, np.conj(KET))
TL = np.linspace(0.0, 2.0, 11)
TIGHT = dict(rtol=1e-10, atol=1e-12)


TL_FINE = np.linspace(0.0, 2.0, 201)
ARGS = {"A": 0.7, "w": 2.0}


def _drive(t, args):
    return args["A"] * jnp.cos(args["w"] * t)


def _h_callable(t, args):
    return 0.5 * jnp.asarray(SZ) + _drive(t, args) * jnp.asarray(SX)


def _decay(t, args):
    return jnp.sqrt(args["g0"]) * jnp.exp(-0.5 * t)



def solve(**kw):
    base = dict(H=H, rho0=RHO, tlist=TL, c_ops=C_OPS, method="expm", e_ops=[SZ, SX])
    base.update(kw)
    return mesolve(base.pop("H"), base.pop("rho0"), base.pop("tlist"), base.pop("c_ops"), **base)


# ---------------------------------------------------------------------------------------------
# input forms
# ---------------------------------------------------------------------------------------------


def test_qobj_inputs_match_arrays():
    qutip = pytest.importorskip("qutip")
    ref = solve()
    res = mesolve(
        qutip.Qobj(H), qutip.Qobj(KET.reshape(2, 1)), TL, [qutip.Qobj(c) for c in C_OPS],
        e_ops=[qutip.sigmaz(), qutip.sigmax()], method="expm",
    )
    np.testing.assert_allclose(res.states, ref.states, atol=1e-14)
    for a, b in zip(res.expect, ref.expect):
        np.testing.assert_allclose(a, b, atol=1e-14)
    # a Qobj density matrix, and a single Qobj collapse operator instead of a list
    res2 = mesolve(qutip.Qobj(H), qutip.Qobj(RHO), TL, qutip.Qobj(C_OPS[0]), method="expm")
    ref2 = solve(c_ops=[C_OPS[0]], e_ops=None)
    np.testing.assert_allclose(res2.states, ref2.states, atol=1e-14)


def test_qobj_list_format_H():
    qutip = pytest.importorskip("qutip")
    kw = dict(method="tsit5", e_ops=[SZ, SX], args=ARGS, **TIGHT)
    a = mesolve([qutip.Qobj(0.5 * SZ), [qutip.sigmax(), _drive]], RHO, TL_FINE, [qutip.Qobj(C_OPS[0])], **kw)
    b = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], **kw)
    np.testing.assert_allclose(a.states, b.states, atol=1e-13)


def test_jax_array_inputs_match_numpy():
    ref = solve()
    res = solve(H=jnp.asarray(H), rho0=jnp.asarray(RHO), c_ops=[jnp.asarray(c) for c in C_OPS],
                e_ops=[jnp.asarray(SZ), jnp.asarray(SX)], tlist=jnp.asarray(TL))
    np.testing.assert_allclose(res.states, ref.states, atol=1e-15)


@pytest.mark.parametrize("ket", [KET, KET.reshape(2, 1)], ids=["(n,)", "(n,1)"])
def test_ket_becomes_density_matrix(ket):
    res = solve(rho0=ket)
    assert res.states.shape == (len(TL), 2, 2)
    assert res.final_state.shape == (2, 2)
    np.testing.assert_allclose(res.states[0], RHO, atol=1e-15)
    np.testing.assert_allclose(res.states, solve().states, atol=1e-15)


def test_single_operator_c_ops_and_e_ops():
    """A bare (n, n) array for c_ops / e_ops means a one-element list."""
    a = solve(c_ops=C_OPS[0], e_ops=SZ)
    b = solve(c_ops=[C_OPS[0]], e_ops=[SZ])
    np.testing.assert_allclose(a.states, b.states, atol=1e-15)
    assert len(a.expect) == 1
    np.testing.assert_allclose(a.expect[0], b.expect[0], atol=1e-15)


def test_no_c_ops_is_unitary():
    res = solve(c_ops=None)
    w, v = np.linalg.eigh(H)
    for t, rho in zip(TL, res.states):
        U = (v * np.exp(-1j * w * t)) @ np.conj(v.T)
        np.testing.assert_allclose(rho, U @ RHO @ np.conj(U.T), atol=1e-12)
    assert solve(c_ops=[]).states.shape == res.states.shape


def test_dict_e_ops():
    lst = solve()
    dct = solve(e_ops={"z": SZ, "x": SX})
    assert isinstance(dct.expect, dict)
    assert list(dct.expect) == ["z", "x"]
    np.testing.assert_allclose(dct.expect["z"], lst.expect[0], atol=0)
    np.testing.assert_allclose(dct.expect["x"], lst.expect[1], atol=0)


def test_expect_values_real_and_complex():
    res = solve(e_ops=[SZ, SM])
    assert res.expect[0].shape == (len(TL),)
    assert not np.iscomplexobj(res.expect[0])  # Hermitian e_op -> real
    assert np.iscomplexobj(res.expect[1])  # sigma_- is not Hermitian -> complex
    np.testing.assert_allclose(res.expect[0], np.einsum("ij,tji->t", SZ, res.states).real, atol=1e-14)
    np.testing.assert_allclose(res.expect[1], np.einsum("ij,tji->t", SM, res.states), atol=1e-14)
    assert solve(e_ops=None).expect is None


def test_method_object_equals_name():
    a = solve(method=Expm())
    b = solve(method="expm")
    c = solve(method=" EXPM ")
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(c.states, b.states)
    assert a.method == "expm"


def test_method_object_carries_its_options():
    """RK4(dt=...) / Tsit5(rtol=..., atol=...) equal the keywords; the keywords fill unset options."""
    np.testing.assert_array_equal(solve(method=RK4(dt=0.01)).states, solve(method="rk4", dt=0.01).states)
    a = solve(method=Tsit5(rtol=1e-9, atol=1e-11))
    b = solve(method="tsit5", rtol=1e-9, atol=1e-11)
    c = solve(method=Tsit5(rtol=1e-9), atol=1e-11)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(c.states, b.states)
    assert a.stats["steps"] == b.stats["steps"]
    with pytest.raises(RuntimeError, match="max_steps=3"):
        solve(method=Tsit5(max_steps=3))
    # the same value twice is no conflict
    np.testing.assert_array_equal(solve(method=RK4(dt=0.01), dt=0.01).states, solve(method="rk4", dt=0.01).states)


def test_method_option_conflicting_with_keyword_is_refused():
    with pytest.raises(ValueError, match=r"dt=0\.02 conflicts with method=RK4\(dt=0\.01\).*dt=0\.01"):
        solve(method=RK4(dt=0.01), dt=0.02)
    with pytest.raises(ValueError, match=r"rtol=1e-06 conflicts with method=Tsit5\(rtol=1e-09\)"):
        solve(method=Tsit5(rtol=1e-9), rtol=1e-6)
    with pytest.raises(ValueError, match=r"rtol=0\.001 conflicts"):
        solve(method=Tsit5(rtol=1e-9), options={"rtol": 1e-3})


def test_method_options_are_checked_when_the_object_is_made():
    with pytest.raises(ValueError, match=r"\bdt\b.*-0\.1"):
        RK4(dt=-0.1)
    with pytest.raises(TypeError, match=r"rtol.*str"):
        Tsit5(rtol="1e-6")
    with pytest.raises(ValueError, match=r"max_steps.*2\.5"):
        Tsit5(max_steps=2.5)
    with pytest.raises(TypeError):
        Expm(dt=0.1)  # expm has no options
    assert RK4(dt=0.1) == RK4(dt=0.1) and hash(RK4(dt=0.1)) == hash(RK4(dt=0.1))
    assert repr(Tsit5(rtol=1e-8)) == "Tsit5(rtol=1e-08)"


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


def test_options_dict_equals_kwargs():
    kw = dict(method="rk4", dt=0.01, store_states=False, max_steps=500)
    a = solve(**kw)
    b = solve(options={"method": "rk4", "dt": 0.01, "store_states": False, "nsteps": 500, "progress_bar": False})
    assert a.states is None and b.states is None
    np.testing.assert_array_equal(a.final_state, b.final_state)
    np.testing.assert_array_equal(a.expect[0], b.expect[0])
    assert a.method == b.method == "rk4"


def test_options_tolerances_and_normalize():
    a = solve(method="tsit5", rtol=1e-9, atol=1e-11, rho0=2 * RHO, normalize=True)
    b = solve(method="tsit5", rho0=2 * RHO, options={"rtol": 1e-9, "atol": 1e-11, "normalize": True})
    np.testing.assert_array_equal(a.states, b.states)
    assert a.stats["steps"] == b.stats["steps"]


def test_nsteps_option_is_max_steps():
    with pytest.raises(RuntimeError, match="max_steps=3"):
        solve(method="tsit5", max_steps=3)
    with pytest.raises(RuntimeError, match="max_steps=3"):
        solve(method="tsit5", options={"nsteps": 3})


def test_progress_bar_option(capsys):
    solve(progress=False)
    assert "mesolve [" not in capsys.readouterr().err
    solve(options={"progress_bar": True})
    jax.effects_barrier()
    assert "mesolve [" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# store_states, Result accessors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", method_params())
def test_store_states_false(method):
    kw = options_for(method, dt=0.01, **TIGHT)
    full = solve(method=method, **kw)
    lean = solve(method=method, store_states=False, **kw)
    assert lean.states is None
    assert lean.final_state.shape == (2, 2)
    np.testing.assert_allclose(lean.final_state, full.final_state, atol=1e-14)
    np.testing.assert_allclose(lean.final_state, full.states[-1], atol=1e-14)
    for a, b in zip(lean.expect, full.expect):
        np.testing.assert_allclose(a, b, atol=1e-14)


def test_stats_contents():
    res = solve()
    for key in ("steps", "accepted", "rejected", "rhs_evals", "wall_time", "device", "format", "interaction_frame", "method"):
        assert key in res.stats, key
    assert res.stats["method"] == "expm"
    assert res.stats["wall_time"] > 0
    assert res.stats["device"].startswith(("cpu", "gpu"))
    assert isinstance(res, Result)
    np.testing.assert_array_equal(res.times, TL)
    assert res.batch_shape == ()


def test_populations_values():
    res = solve(c_ops=None)
    pops = res.populations()
    assert pops.shape == (len(TL), 2)
    assert not np.iscomplexobj(pops)
    np.testing.assert_allclose(pops, np.real(np.diagonal(res.states, axis1=-2, axis2=-1)), atol=0)
    np.testing.assert_allclose(pops[0], [0.36, 0.64], atol=1e-15)
    np.testing.assert_allclose(pops.sum(axis=-1), 1.0, atol=1e-13)


def test_entropy_purity_pure_state():
    res = solve(c_ops=None)  # closed system: stays pure
    S = res.entropy()
    P = res.purity()
    assert S.shape == (len(TL),) and P.shape == (len(TL),)
    np.testing.assert_allclose(S, 0.0, atol=1e-7)
    np.testing.assert_allclose(P, 1.0, atol=1e-12)


def test_entropy_purity_mixed_state():
    p = np.array([0.3, 0.7])
    res = solve(H=SZ, rho0=np.diag(p).astype(complex), c_ops=None)  # diagonal state, H commutes
    S_nat = -(p * np.log(p)).sum()
    np.testing.assert_allclose(res.entropy(), S_nat, atol=1e-12)
    np.testing.assert_allclose(res.entropy(base=2), S_nat / np.log(2), atol=1e-12)
    np.testing.assert_allclose(res.purity(), (p**2).sum(), atol=1e-12)
    # dissipation lowers the purity of an initially pure state
    diss = solve()
    assert diss.purity()[-1] < 1 - 1e-3


def test_accessors_batched_shapes():
    res = solve(H=np.stack([H, 2 * H, 3 * H]))
    assert res.entropy().shape == (3, len(TL))
    assert res.purity().shape == (3, len(TL))
    assert res.populations().shape == (3, len(TL), 2)


@pytest.mark.parametrize("accessor", ["entropy", "purity", "populations"])
def test_accessors_need_states(accessor):
    res = solve(store_states=False)
    with pytest.raises(ValueError, match="store_states"):
        getattr(res, accessor)()


def test_str_mentions_method():
    for method, kw in [("expm", {}), ("rk4", {"dt": 0.01})]:
        text = str(solve(method=method, **kw))
        assert method in text
        assert "n=2" in text
    text = str(solve(H=np.stack([H, 2 * H]), store_states=False))
    assert "batch=(2,)" in text and "not stored" in text


def test_to_xarray_unbatched():
    pytest.importorskip("xarray")
    res = solve(e_ops={"z": SZ, "x": SX})
    ds = res.to_xarray()
    assert ds["expect_z"].dims == ("time",)
    assert ds["states"].dims == ("time", "row", "col")
    assert ds["final_state"].dims == ("row", "col")
    np.testing.assert_array_equal(ds["time"].values, TL)
    np.testing.assert_array_equal(ds["expect_x"].values, res.expect["x"])
    np.testing.assert_array_equal(ds["states"].values, res.states)
    assert ds.attrs["method"] == "expm"
    ds_list = solve().to_xarray()
    assert "expect_0" in ds_list and "expect_1" in ds_list


def test_to_xarray_batched():
    pytest.importorskip("xarray")
    F = np.array([0.5, 1.0, 1.5])
    res = solve(H=F[:, None, None] * SX + 0.5 * SZ)
    ds = res.to_xarray(batch_dims=["F"], batch_coords={"F": F})
    assert ds["expect_0"].dims == ("F", "time")
    assert ds["states"].dims == ("F", "time", "row", "col")
    assert ds["final_state"].dims == ("F", "row", "col")
    np.testing.assert_array_equal(ds["F"].values, F)
    np.testing.assert_array_equal(ds["expect_0"].sel(F=1.0).values, res.expect[0][1])
    default = res.to_xarray()
    assert default["expect_0"].dims == ("batch_0", "time")
    with pytest.raises(ValueError, match="batch_dims"):
        res.to_xarray(batch_dims=["F", "G"])
    with pytest.raises(ValueError, match="batch_coords"):
        res.to_xarray(batch_dims=["F"], batch_coords={"G": F})


def test_to_xarray_store_states_false():
    pytest.importorskip("xarray")
    ds = solve(store_states=False).to_xarray()
    assert "states" not in ds
    assert "final_state" in ds


def test_to_qutip():
    qutip = pytest.importorskip("qutip")
    res = solve()
    qs = res.to_qutip()
    assert isinstance(qs, list) and len(qs) == len(TL)
    assert all(isinstance(q, qutip.Qobj) for q in qs)
    np.testing.assert_allclose(qs[-1].full(), res.states[-1], atol=0)
    batched = solve(H=np.stack([H, 2 * H])).to_qutip()
    assert len(batched) == 2 and len(batched[0]) == len(TL)
    assert isinstance(batched[1][3], qutip.Qobj)
    final = solve(store_states=False).to_qutip()
    assert isinstance(final, qutip.Qobj)


# ---------------------------------------------------------------------------------------------
# method="auto"
# ---------------------------------------------------------------------------------------------


def test_auto_picks_expm_for_small_constant_problem():
    res = solve(method="auto")
    assert res.method == "expm" and res.stats["method"] == "expm"
    np.testing.assert_allclose(res.states, solve(method="expm").states, atol=0)
    assert mesolve(H, RHO, TL).method == "expm"  # auto is the default


def test_auto_picks_tsit5_for_large_n():
    n = 13
    a = np.asarray(destroy(n))
    rho = np.zeros((n, n), complex)
    rho[2, 2] = 1.0
    res = mesolve(a.conj().T @ a, rho, np.linspace(0, 1, 5), [0.5 * a], e_ops=[a.conj().T @ a])
    assert res.method == "tsit5" and res.stats["method"] == "tsit5"
    np.testing.assert_allclose(res.expect[0], 2 * np.exp(-0.25 * np.linspace(0, 1, 5)), atol=1e-5)


def test_auto_picks_dop853_at_tight_tolerance_for_constant_operators():
    """methods.AUTO_DOP853_RTOL: measured faster than tsit5 at rtol <= 1e-8 (benchmarks/dop853_ab.py)."""
    n = 13
    a = np.asarray(destroy(n))
    rho = np.zeros((n, n), complex)
    rho[2, 2] = 1.0
    tl = np.linspace(0, 1, 5)
    res = mesolve(a.conj().T @ a, rho, tl, [0.5 * a], e_ops=[a.conj().T @ a], rtol=1e-8, atol=1e-10)
    assert res.method == "dop853" and res.stats["method"] == "dop853"
    np.testing.assert_allclose(res.expect[0], 2 * np.exp(-0.25 * tl), atol=1e-7)
    assert mesolve(a.conj().T @ a, rho, tl, [0.5 * a], rtol=1e-7).method == "tsit5"
    assert mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], args=ARGS, rtol=1e-8).method == "tsit5"


def test_auto_picks_tsit5_for_time_dependence():
    res = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], args=ARGS, e_ops=[SZ, SX])
    assert res.method == "tsit5" and res.stats["method"] == "tsit5"
    up = np.diag([1.0, 0.0]).astype(complex)
    res_c = mesolve(0.5 * SZ, up, TL_FINE, [[[SM, _decay]]], args={"g0": 0.3}, e_ops=[up])
    assert res_c.method == "tsit5"


# ---------------------------------------------------------------------------------------------
# time dependence
# ---------------------------------------------------------------------------------------------

def test_time_dependent_forms_agree():
    """[H0, [H1, f]] with f callable == f sampled on tlist (cubic spline) == H(t, args)."""
    kw = dict(method="tsit5", e_ops=[SZ, SX], args=ARGS, **TIGHT)
    a = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], **kw)
    samples = np.asarray(_drive(jnp.asarray(TL_FINE), ARGS))
    b = mesolve([0.5 * SZ, [SX, samples]], RHO, TL_FINE, [C_OPS[0]], **kw)
    c = mesolve(_h_callable, RHO, TL_FINE, [C_OPS[0]], **kw)
    np.testing.assert_allclose(b.states, a.states, atol=1e-6)
    np.testing.assert_allclose(c.states, a.states, atol=1e-8)
    # the drive matters at this level of precision
    const = solve(H=0.5 * SZ, c_ops=[C_OPS[0]], tlist=TL_FINE)
    assert np.abs(const.states - a.states).max() > 1e-2
    # the fixed-step methods solve the same problem
    for method in FIXED_STEP:
        r = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], method=method, dt=1e-3, args=ARGS)
        np.testing.assert_allclose(r.states, a.states, atol=1e-6, err_msg=method)


def test_time_dependent_c_op_closed_form():
    """L(t) = sqrt(g0) e^{-t/2} σ₋: the upper population decays as exp(-g0 (1 - e^{-t}))."""
    g0 = 0.8
    up = np.diag([1.0, 0.0]).astype(complex)
    res = mesolve(0.5 * SZ, up, TL_FINE, [[[SM, _decay]]], args={"g0": g0}, method="tsit5", e_ops=[up], **TIGHT)
    np.testing.assert_allclose(res.expect[0], np.exp(-g0 * (1 - np.exp(-TL_FINE))), atol=1e-8)


def test_args_are_passed_through():
    """The drive amplitude comes from args: A = 0 reproduces the undriven problem, and the
    amplitude enters linearly at short times."""
    kw = dict(method="tsit5", e_ops=[SZ, SX], **TIGHT)
    off = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], args={"A": 0.0, "w": 2.0}, **kw)
    ref = solve(H=0.5 * SZ, c_ops=[C_OPS[0]], tlist=TL_FINE)
    np.testing.assert_allclose(off.states, ref.states, atol=1e-8)
    on = mesolve([0.5 * SZ, [SX, _drive]], RHO, TL_FINE, [C_OPS[0]], args={"A": 0.7, "w": 2.0}, **kw)
    via_h = mesolve(_h_callable, RHO, TL_FINE, [C_OPS[0]], args={"A": 0.7, "w": 2.0}, **kw)
    np.testing.assert_allclose(on.states, via_h.states, atol=1e-8)
    assert np.abs(on.states - off.states).max() > 1e-2


# ---------------------------------------------------------------------------------------------
# no recompilation
# ---------------------------------------------------------------------------------------------


class CompileCounter:
    """Counts XLA compilations (every jit, including eager op dispatch): backend compilations and
    programs loaded from JAX's persistent compilation cache instead (nephlab turns that cache on
    by default, e.g. for a plain ``pytest`` run outside ``make test``; a program that had to be
    compiled again counts either way)."""

    EVENTS = ("/jax/core/compile/backend_compile_duration", "/jax/compilation_cache/cache_hits")

    def __init__(self):
        self.count = 0

    def __call__(self, event, *duration, **kw):
        if event in self.EVENTS:
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        jax.monitoring.register_event_listener(self)
        self.solve_cache = _engine.solve._cache_size()
        return self

    def __exit__(self, *a):
        jax.monitoring.unregister_event_duration_listener(self)
        jax.monitoring.unregister_event_listener(self)
        self.solve_cache = _engine.solve._cache_size() - self.solve_cache


@pytest.mark.parametrize("method", method_params())
def test_second_call_does_not_recompile(method):
    kw = options_for(method, dt=0.01, rtol=1e-8, atol=1e-10)

    def call(Hm, tl, rho, **extra):
        return mesolve(Hm, rho, tl, C_OPS, method=method, e_ops=[SZ], **{**kw, **extra})

    first = call(H, TL, RHO)  # warm up (compiles)
    with CompileCounter() as cc:
        same = call(H, TL, RHO)
    assert cc.count == 0 and cc.solve_cache == 0, f"{method}: identical second call compiled {cc.count} time(s)"
    np.testing.assert_array_equal(same.states, first.states)

    # only numbers change: H entries (same sparsity), tlist values (same length), rho0, tolerances
    extra = {"rtol": 1e-7} if "rtol" in kw else {"dt": 0.02} if "dt" in kw else {}
    with CompileCounter() as cc:
        other = call(0.7 * SZ + 1.1 * SX, np.linspace(0.5, 3.0, len(TL)), np.diag([0.25, 0.75]).astype(complex), **extra)
    assert cc.count == 0 and cc.solve_cache == 0, f"{method}: new values recompiled {cc.count} time(s)"
    assert np.abs(other.states - first.states).max() > 1e-3  # and the new numbers were used


def test_batched_second_call_does_not_recompile():
    Hb = np.stack([H, 2 * H, 3 * H])
    solve(H=Hb, method="rk4", dt=0.01)
    with CompileCounter() as cc:
        res = solve(H=1.5 * Hb, method="rk4", dt=0.01, tlist=TL + 1.0)
    assert cc.count == 0 and cc.solve_cache == 0
    assert res.batch_shape == (3,)


def test_changing_args_does_not_recompile():
    kw = dict(method="tsit5", **TIGHT)
    mesolve([0.5 * SZ, [SX, _drive]], RHO, TL, [C_OPS[0]], args={"A": 0.7, "w": 2.0}, **kw)
    with CompileCounter() as cc:
        mesolve([0.5 * SZ, [SX, _drive]], RHO, TL, [C_OPS[0]], args={"A": 0.2, "w": 5.0}, **kw)
    assert cc.count == 0 and cc.solve_cache == 0


def test_method_object_shares_compiled_program():
    solve(method="rk4", dt=0.01)
    with CompileCounter() as cc:
        solve(method=RK4(), dt=0.01)
        solve(method=RK4, dt=0.01)
    assert cc.count == 0 and cc.solve_cache == 0


def test_nonuniform_tlist_does_not_recompile_ode_methods():
    solve(method="rk4", dt=0.01)
    with CompileCounter() as cc:
        solve(method="rk4", dt=0.01, tlist=np.array([0.0, 0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 1.2, 1.5, 1.6, 2.0]))
    assert cc.solve_cache == 0


def test_a_list_of_two_qobj_is_their_sum():
    """QuTiP's ``[H0, H1]`` of two Qobj is H0 + H1. A Qobj is callable, and was once taken for the
    coefficient of a pair ``[operator, coefficient]``."""
    qutip = pytest.importorskip("qutip")
    tl = np.linspace(0.0, 1.0, 3)
    a = qutip.destroy(3)
    H0, H1 = a.dag() * a, 0.3 * (a + a.dag())
    kw = dict(c_ops=[0.4 * a], e_ops=[a.dag() * a])
    res = mesolve([H0, H1], qutip.basis(3, 1), tl, **kw)
    ref = mesolve(H0 + H1, qutip.basis(3, 1), tl, **kw)
    np.testing.assert_allclose(res.expect[0], ref.expect[0], rtol=0, atol=1e-12)
