"""Issue 10, quantum items: error wording (6), QuTiP structure kept (7), one time-function rule
and an error-controlled ``tpm_work`` (8), non-unique steady states (10), the result base (13)
and the shared validators (15). QuTiP and SciPy are the independent references."""

from __future__ import annotations

import importlib
import math
import re

import jax.numpy as jnp
import numpy as np
import pytest
import qutip as qt
import scipy.integrate
import xarray as xr

import nephlab._validate as V
from nephlab import mesolve
from nephlab._result import ResultBase
from nephlab.quantum import (
    Result, WorkStatistics, entropy_vn, lindblad_rhs, liouvillian, qeye, sigmam, sigmax, sigmaz, steadystate,
    tensor, thermal_bath, tpm_work,
)

mesolve_mod = importlib.import_module("nephlab.quantum.mesolve")
SZ, SX, SM = (np.asarray(o) for o in (sigmaz(), sigmax(), sigmam()))
RHO = np.diag([1.0, 0.0]).astype(complex)
TL = np.linspace(0.0, 1.0, 6)
NON_HERM_STATE = np.array([[0.5, 0.5], [0.1, 0.5]], complex)


def message(exc, fn, *a, **kw) -> str:
    with pytest.raises(exc) as info:
        fn(*a, **kw)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# 6. each argument is named, with what it must be
# ---------------------------------------------------------------------------------------------


def test_non_hermitian_rho0_is_called_a_density_matrix():
    assert message(ValueError, mesolve, SZ, NON_HERM_STATE, TL) == (
        "rho0 must be Hermitian (a density matrix equals its conjugate transpose), "
        "but |rho0 - rho0†| reaches 0.4 at entry (0, 1)"
    )


def test_non_hermitian_H_is_called_a_hamiltonian():
    assert message(ValueError, mesolve, SZ + 0.5j * SX, RHO, TL) == (
        "H must be Hermitian (a Hamiltonian equals its conjugate transpose), but |H - H†| reaches 1 at entry (0, 1)"
    )
    assert message(ValueError, mesolve, lambda t, a: SZ + 1j * SX, RHO, TL, method="tsit5") == (
        "H(t=0) must be Hermitian (a Hamiltonian equals its conjugate transpose), "
        "but |H(t=0) - H(t=0)†| reaches 2 at entry (0, 1)"
    )
    assert message(ValueError, steadystate, SZ + 0.5j * SX, [SM]) == (
        "H must be Hermitian (a Hamiltonian equals its conjugate transpose), but |H - H†| reaches 1 at entry (0, 1)"
    )


def test_thermo_states_are_called_density_matrices():
    assert message(ValueError, entropy_vn, NON_HERM_STATE) == (
        "rho must be Hermitian (a density matrix equals its conjugate transpose), "
        "but |rho - rho†| reaches 0.4 at entry (0, 1)"
    )


def test_c_ops_and_e_ops_messages_name_their_argument():
    bad = np.array([[0, np.nan], [0, 0]], complex)
    assert message(ValueError, mesolve, SZ, RHO, TL, [SM, bad]) == (
        "c_ops[1] contains NaN or inf (entry (0, 1) is (nan+0j)); all entries must be finite"
    )
    assert message(ValueError, mesolve, SZ, RHO, TL, [SM, np.eye(3)]) == (
        "c_ops[1] has shape (3, 3), whose last two axes do not match the dimension n=2 of rho0"
    )
    assert message(ValueError, mesolve, SZ, RHO, TL, [SM], e_ops={"z": SZ, "x": bad}) == (
        "e_ops['x'] contains NaN or inf (entry (0, 1) is (nan+0j)); all entries must be finite"
    )
    assert message(ValueError, mesolve, SZ, RHO, TL, [SM], e_ops=[np.eye(3)]) == (
        "e_ops[0] has shape (3, 3), whose last two axes do not match the dimension n=2 of rho0"
    )


# ---------------------------------------------------------------------------------------------
# 7. Qobj in, Qobj out, with its dims
# ---------------------------------------------------------------------------------------------


def two_qubits():
    H = 0.5 * qt.tensor(qt.sigmaz(), qt.qeye(2)) + 0.3 * qt.tensor(qt.qeye(2), qt.sigmaz()) \
        + 0.2 * qt.tensor(qt.sigmax(), qt.sigmax())
    c_ops = [np.sqrt(0.4) * qt.tensor(qt.sigmam(), qt.qeye(2)), np.sqrt(0.1) * qt.tensor(qt.qeye(2), qt.sigmam())]
    psi0 = qt.tensor((qt.basis(2, 0) + qt.basis(2, 1)).unit(), qt.basis(2, 0))
    return H, c_ops, psi0


def test_mesolve_to_qutip_keeps_dims_and_ptrace_matches_qutip():
    H, c_ops, psi0 = two_qubits()
    tlist = np.linspace(0.0, 2.0, 11)
    res = mesolve(H, psi0, tlist, c_ops)
    ref = qt.mesolve(H, psi0, tlist, c_ops, options={"atol": 1e-13, "rtol": 1e-12})
    states = res.to_qutip()
    assert len(states) == len(tlist) and states[-1].dims == [[2, 2], [2, 2]]
    assert res.to_qutip(final=True).dims == [[2, 2], [2, 2]]
    for k in (0, 1):
        np.testing.assert_allclose(states[-1].ptrace(k).full(), ref.states[-1].ptrace(k).full(), atol=1e-9)
    np.testing.assert_allclose(res.to_qutip(final=True).full(), ref.final_state.full(), atol=1e-9)


def test_mesolve_to_qutip_without_qobj_inputs_and_dim_mismatch():
    res = mesolve(SZ, RHO, TL, [SM])
    assert res.to_qutip()[-1].dims == [[2], [2]]
    H, c_ops, psi0 = two_qubits()
    assert message(ValueError, mesolve, qt.Qobj(H.full()), psi0, TL, c_ops) == (
        "H has QuTiP dims [[4], [4]], but rho0 has dims [[2, 2], [2, 2]]; Qobj inputs must have equal dims"
    )


def test_steadystate_of_qobj_is_qobj_equal_to_qutip():
    H, c_ops, _ = two_qubits()
    for method in ("direct", "iterative", "eigen"):
        rho = steadystate(H, c_ops, method=method)
        assert isinstance(rho, qt.Qobj) and rho.dims == [[2, 2], [2, 2]]
        np.testing.assert_allclose(rho.full(), qt.steadystate(H, c_ops).full(), atol=1e-10)
    assert not isinstance(steadystate(H.full(), [c.full() for c in c_ops]), qt.Qobj)


def test_superoperators_and_operators_of_qobj_are_qutip_objects():
    H, c_ops, psi0 = two_qubits()
    L = liouvillian(H, c_ops)
    assert isinstance(L, qt.Qobj) and L.issuper and L.dims == qt.liouvillian(H, c_ops).dims
    assert (L - qt.liouvillian(H, c_ops)).norm() < 1e-14
    rho = qt.ket2dm(psi0)
    d = lindblad_rhs(H, c_ops, rho)
    assert d.dims == [[2, 2], [2, 2]]
    expected = qt.vector_to_operator(qt.liouvillian(H, c_ops) * qt.operator_to_vector(rho))
    assert (d - expected).norm() < 1e-14
    ops = thermal_bath(qt.tensor(qt.destroy(3), qt.qeye(2)), 0.5, 0.2)
    assert all(isinstance(o, qt.Qobj) and o.dims == [[3, 2], [3, 2]] for o in ops)


# ---------------------------------------------------------------------------------------------
# 8. one rule for time functions; tpm_work resolves the drive
# ---------------------------------------------------------------------------------------------


def test_time_function_rule_by_signature():
    from nephlab.quantum.timedep import time_function

    assert time_function(lambda t: 2 * t, "f")(3.0, {"w": 1}) == 6.0
    assert time_function(lambda t, args: args["w"] * t, "f")(3.0, {"w": 2}) == 6.0
    assert time_function(lambda t, args=None: t, "f")(3.0, {}) == 3.0
    assert time_function(lambda *a: a[1]["w"], "f")(0.0, {"w": 5}) == 5
    assert float(time_function(np.cos, "f")(0.0, {})) == 1.0  # a ufunc: no signature, nin = 1
    assert time_function(jnp.sin, "f") == time_function(jnp.sin, "f")  # same key: no recompilation
    with pytest.raises(TypeError, match=r"drive must be a function f\(t\) or f\(t, args\).*\(t, a, b\)"):
        time_function(lambda t, a, b: t, "drive")
    with pytest.raises(TypeError, match="must be a function"):
        time_function(lambda: 1.0, "drive")


def test_mesolve_accepts_qutip_style_f_of_t():
    H2 = [SZ, [0.3 * SX, lambda t, args: jnp.cos(args["w"] * t)]]
    H1 = [SZ, [0.3 * SX, lambda t: jnp.cos(2.0 * t)]]
    kw = dict(c_ops=[0.5 * SM], e_ops=[SZ], method="tsit5", rtol=1e-10, atol=1e-12)
    a = mesolve(H2, RHO, TL, args={"w": 2.0}, **kw).expect[0]
    b = mesolve(H1, RHO, TL, **kw).expect[0]
    c = mesolve(lambda t: SZ + 0.3 * jnp.cos(2.0 * t) * SX, RHO, TL, **kw).expect[0]
    np.testing.assert_allclose(b, a, atol=1e-13)
    np.testing.assert_allclose(c, a, atol=1e-9)


def test_mesolve_untraceable_coefficient_is_named():
    def drive(t, args):
        return np.cos(40 * t)

    assert message(TypeError, mesolve, [SZ, [SX, drive]], RHO, TL, method="tsit5") == (
        "H[1][1] (the coefficient `drive`) cannot be traced by JAX (it calls NumPy on a traced value); write it with "
        "jax.numpy (jnp.sin, jnp.exp, jnp.where, ...) as f(t) or f(t, args)"
    )

    def switch(t):
        return 1.0 if t < 0.5 else 0.0

    assert re.match(r"c_ops\[0\]\[0\]\[1\] \(the coefficient `switch`\) cannot be traced by JAX \(it branches on a traced value",
                    message(TypeError, mesolve, SZ, RHO, TL, [[SM, switch]], method="tsit5"))
    assert message(TypeError, mesolve, lambda t: SZ + np.cos(t) * SX, RHO, TL, method="tsit5").startswith(
        "H (the callable `<lambda>`) cannot be traced by JAX (it calls NumPy on a traced value)")


def test_tpm_work_follows_the_same_rule():
    H2 = [0.5 * SZ, [0.3 * SX, lambda t, args: jnp.sin(args["w"] * t)]]
    H1 = [0.5 * SZ, [0.3 * SX, lambda t: np.sin(2.0 * t)]]  # NumPy is fine here: H is sampled on the host
    u2 = np.asarray(tpm_work(H2, None, [0.0, 1.0], 1.0, args={"w": 2.0}).unitary)
    u1 = np.asarray(tpm_work(H1, None, [0.0, 1.0], 1.0).unitary)
    np.testing.assert_allclose(u1, u2, atol=1e-14)
    with pytest.raises(TypeError, match=r"H_of_t\[1\]\[1\] \(the coefficient `<lambda>`\) must be a function f\(t\) or f\(t, args\)"):
        tpm_work([0.5 * SZ, [SX, lambda t, a, b: t]], None, [0.0, 1.0], 1.0)


def schrodinger_propagator(H_of_t, T):
    """U(T, 0) from scipy's DOP853 on i dU/dt = H U, at rtol = atol = 1e-13 (the reference)."""
    n = H_of_t(0.0).shape[0]

    def rhs(t, y):
        return (-1j * H_of_t(t) @ y.reshape(n, n)).reshape(-1)

    sol = scipy.integrate.solve_ivp(rhs, (0.0, T), np.eye(n, dtype=complex).reshape(-1), method="DOP853",
                                    rtol=1e-13, atol=1e-13)
    return sol.y[:, -1].reshape(n, n)


@pytest.mark.parametrize("tol", [1e-10, 1e-6])
def test_tpm_work_resolves_a_fast_drive(tol):
    """ν = 40 with tlist = [0, T]: the old fixed default step was off by ~1e-1 here."""
    nu, A, T = 40.0, 0.8, 1.0
    H0, H1 = 0.5 * SZ, A * SX
    U_ref = schrodinger_propagator(lambda t: H0 + math.cos(2 * math.pi * nu * t) * H1, T)
    ws = tpm_work([H0, [H1, lambda t: jnp.cos(2 * jnp.pi * nu * t)]], None, [0.0, T], 1.0, tol=tol)
    err = np.linalg.norm(np.asarray(ws.unitary) - U_ref, 2)
    assert err <= tol, (err, ws.n_steps)
    assert ws.error_estimate <= tol
    if tol == 1e-10:  # the Jarzynski identity holds for any unitary: it is no evidence of accuracy
        assert abs(ws.exp_avg / ws.jarzynski_ratio - 1) < 1e-12


def test_tpm_work_bad_tol():
    with pytest.raises(ValueError, match=r"tol must be a finite number > 0, got -1"):
        tpm_work(0.5 * SZ, None, [0.0, 1.0], 1.0, tol=-1)


# ---------------------------------------------------------------------------------------------
# 10. a singular Liouvillian: say that the steady state is not unique, and how many there are
# ---------------------------------------------------------------------------------------------


DECOUPLED = (0.5 * tensor(sigmaz(), qeye(2)) + 0.3 * tensor(qeye(2), sigmaz()), [tensor(sigmam(), qeye(2))])


@pytest.mark.parametrize("method", ["direct", "eigen"])
@pytest.mark.parametrize("system, count", [
    ((0.5 * sigmaz(), [sigmaz()]), 2),                                     # pure dephasing
    (DECOUPLED, 2),                                                        # second qubit never decays
    ((0.5 * tensor(sigmaz(), qeye(2)), [tensor(sigmam(), qeye(2))]), 4),  # ... and has no Hamiltonian
])
def test_non_unique_steady_state_is_reported_with_its_count(method, system, count):
    msg = message(RuntimeError, steadystate, *system, method=method)
    assert msg.startswith(f"steadystate(method={method!r}): the steady state is not unique: the Liouvillian has "
                          f"{count} (near-)zero eigenvalues"), msg
    assert f"so there are {count} linearly independent stationary states" in msg and "nan" not in msg


def test_non_unique_in_a_batch_names_the_element():
    H, (c,) = DECOUPLED
    c_batch = np.stack([np.asarray(c) + np.asarray(tensor(qeye(2), sigmam())), np.asarray(c)])
    msg = message(RuntimeError, steadystate, H, [c_batch], method="direct")
    assert "not unique at batch index (1,)" in msg and "2 linearly independent" in msg


# ---------------------------------------------------------------------------------------------
# 13. the quantum results use the one result base
# ---------------------------------------------------------------------------------------------


def test_result_and_work_statistics_use_result_base(tmp_path):
    res = mesolve(SZ, RHO, TL, [SM], e_ops=[SZ])
    assert isinstance(res, ResultBase) and isinstance(res, Result)
    assert repr(res).startswith("Result(times=float64(6,), expect=[float64(6,)], states=complex128(6, 2, 2)")
    ds = xr.open_dataset(res.save(tmp_path / "r.nc"), engine="h5netcdf")
    assert set(ds.data_vars) == {"expect_0", "states", "final_state"} and ds.states.dims == ("time", "row", "col")
    ds.close()
    ws = tpm_work([0.5 * SZ, [0.3 * SX, lambda t: jnp.sin(t)]], None, [0.0, 1.0], 1.0)
    assert isinstance(ws, ResultBase) and isinstance(ws, WorkStatistics)
    wds = ws.to_xarray()
    assert wds.work.dims == ("outcome",) and wds.unitary.dims == ("row", "col")
    assert wds.attrs["beta"] == 1.0 and wds.attrs["n_steps"] == ws.n_steps
    ws.save(tmp_path / "w.nc")
    assert str(ws).startswith("WorkStatistics(n=2, beta=1")


# ---------------------------------------------------------------------------------------------
# 15. mesolve's validators live in nephlab/_validate.py
# ---------------------------------------------------------------------------------------------


def test_mesolve_uses_shared_validators():
    for name in ("time_grid", "args_dict", "broadcast_batch"):
        assert getattr(mesolve_mod, name) is getattr(V, name)
    # the solver options (rtol, atol, dt) are checked by the method objects, through the same validator
    from nephlab.quantum import methods

    with pytest.raises(TypeError, match=r"rtol must be a real number, got '1e-6' of type str"):
        methods.check_keywords(rtol="1e-6")
    for old in ("_check_tlist", "_check_args", "_positive_float"):
        assert not hasattr(mesolve_mod, old)
    assert V.real_number(np.float32(2.5), "x", positive=True) == 2.5
    with pytest.raises(TypeError, match=r"rtol must be a real number, got '1e-6' of type str"):
        V.real_number("1e-6", "rtol", positive=True)
    with pytest.raises(ValueError, match=r"tlist must be strictly increasing, but tlist\[1\]=1\.0 >= tlist\[2\]=1\.0"):
        V.time_grid([0.0, 1.0, 1.0])
    with pytest.raises(TypeError, match=r"args\['s'\] = 'x' cannot be passed into JAX"):
        V.args_dict({"s": "x"})
    with pytest.raises(ValueError, match=r"\(H: \(3,\), rho0: \(2,\)\)"):
        V.broadcast_batch([("H", (3,)), ("rho0", (2,))])
