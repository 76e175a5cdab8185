"""Bad input to ``nephlab.mesolve`` fails at the public boundary.

Each test feeds one bad argument and asserts a ValueError/TypeError whose message names the
argument (and the bad value where that makes sense). Nothing is clamped or fixed silently.
Every check must fire before anything is compiled, so these tests are cheap.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest

from nephlab import mesolve
from nephlab.quantum import destroy, sigmam, sigmax, sigmaz
from method_cases import FIXED_STEP, NOT_FIXED_STEP, method_params

TL = np.linspace(0.0, 1.0, 6)
SZ = np.asarray(sigmaz())
SX = np.asarray(sigmax())
SM = np.asarray(sigmam())
RHO = np.array([[1.0, 0.0], [0.0, 0.0]], complex)
KET = np.array([1.0, 0.0], complex)


def raises(exc, *patterns):
    """pytest.raises(exc) that also checks every regex in ``patterns`` occurs in the message."""

    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(exc)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *a):
            out = self._cm.__exit__(*a)
            msg = str(self.info.value)
            for pat in patterns:
                assert re.search(pat, msg), f"message {msg!r} does not match {pat!r}"
            return out

    return _Ctx()


# ---------------------------------------------------------------------------------------------
# shapes and dimensions
# ---------------------------------------------------------------------------------------------


def test_non_square_H():
    with raises(ValueError, r"\bH\b", r"square", r"\(2, 3\)"):
        mesolve(np.zeros((2, 3)), RHO, TL)


def test_H_dims_do_not_match_rho0():
    with raises(ValueError, r"\bH\b", r"\(3, 3\)", r"rho0", r"n=2"):
        mesolve(np.eye(3), RHO, TL)


def test_list_H_term_dims_mismatch():
    with raises(ValueError, r"H\[1\]", r"\(3, 3\)"):
        mesolve([SZ, [np.eye(3), lambda t, args: 1.0]], RHO, TL)


def test_c_op_dims_mismatch():
    with raises(ValueError, r"c_ops\[1\]", r"\(3, 3\)", r"rho0"):
        mesolve(SZ, RHO, TL, [SM, destroy(3)])


def test_e_op_dims_mismatch():
    with raises(ValueError, r"e_ops\[0\]", r"\(3, 3\)"):
        mesolve(SZ, RHO, TL, [SM], e_ops=[np.eye(3)])


def test_e_op_dict_dims_mismatch():
    with raises(ValueError, r"e_ops\['n'\]", r"\(3, 3\)"):
        mesolve(SZ, RHO, TL, [SM], e_ops={"z": SZ, "n": np.eye(3)})


def test_rho0_bad_shape():
    with raises(ValueError, r"rho0", r"\(2, 3\)"):
        mesolve(SZ, np.zeros((2, 3)), TL)


def test_bad_types():
    with raises(TypeError, r"\bH\b", r"str"):
        mesolve("sigmaz", RHO, TL)
    with raises(TypeError, r"c_ops", r"str"):
        mesolve(SZ, RHO, TL, "sigmam")
    with raises(TypeError, r"c_ops\[0\]", r"callable"):
        mesolve(SZ, RHO, TL, [lambda t, args: SM])
    with raises(TypeError, r"args", r"list"):
        mesolve(SZ, RHO, TL, args=[1.0])
    with raises(TypeError, r"options"):
        mesolve(SZ, RHO, TL, options=[("rtol", 1e-3)])


# ---------------------------------------------------------------------------------------------
# Hermiticity, rates
# ---------------------------------------------------------------------------------------------


def test_non_hermitian_H_constant():
    with raises(ValueError, r"\bH\b", r"Hermitian"):
        mesolve(SZ + 0.5j * SX, RHO, TL)


def test_non_hermitian_H_in_batch():
    H = np.stack([SZ, SZ + np.array([[0, 1], [0, 0]])])
    with raises(ValueError, r"\bH\b", r"Hermitian"):
        mesolve(H, RHO, TL)


def test_non_hermitian_list_H_complex_coefficient():
    # exp(i t) is real (1) at t=0, so the total H(t) = sz + exp(i t) sx is Hermitian only there
    with raises(ValueError, r"H\(t=", r"Hermitian"):
        mesolve([SZ, [SX, lambda t, args: jnp.exp(1j * t)]], RHO, TL)


def test_non_hermitian_list_H_complex_array_coefficient():
    with raises(ValueError, r"H\(t=", r"Hermitian"):
        mesolve([SZ, [SX, 1.0 + 0.3j * TL]], RHO, TL)


def test_non_hermitian_callable_H():
    with raises(ValueError, r"H\(t=", r"Hermitian"):
        mesolve(lambda t, args: SZ + 1j * t * SX, RHO, TL, method="tsit5")


def test_negative_rate_thermal_bath():
    from nephlab.quantum import thermal_bath

    a = np.asarray(destroy(3))
    with raises(ValueError, r"gamma", r"-0\.1"):
        thermal_bath(a, gamma=-0.1)
    with raises(ValueError, r"n_th", r"-0\.5"):
        thermal_bath(a, gamma=0.1, n_th=-0.5)


# ---------------------------------------------------------------------------------------------
# the initial state: validated, never clamped
# ---------------------------------------------------------------------------------------------


def test_rho0_trace_not_one_raises_and_is_not_clamped():
    with raises(ValueError, r"rho0", r"trace", r"1\.1", r"normalize"):
        mesolve(SZ, 1.1 * RHO, TL)
    with raises(ValueError, r"rho0", r"trace", r"0\.5"):
        mesolve(SZ, np.diag([0.25, 0.25]).astype(complex), TL)


def test_rho0_trace_normalize_true_rescales():
    res = mesolve(SZ, np.diag([0.66, 0.44]).astype(complex), TL, [0.3 * SM], normalize=True, method="expm")
    tr = np.trace(res.states, axis1=-2, axis2=-1)
    np.testing.assert_allclose(tr, 1.0, atol=1e-12)
    np.testing.assert_allclose(res.states[0], np.diag([0.6, 0.4]), atol=1e-14)


def test_rho0_trace_normalize_via_options():
    res = mesolve(SZ, 2.0 * RHO, TL, method="expm", options={"normalize": True})
    np.testing.assert_allclose(res.states[0], RHO, atol=1e-14)


def test_rho0_zero_trace_not_normalizable():
    with raises(ValueError, r"rho0", r"trace"):
        mesolve(SZ, np.zeros((2, 2)), TL, normalize=True)


def test_rho0_not_psd():
    bad = np.diag([1.5, -0.5]).astype(complex)  # trace 1, Hermitian, eigenvalue -0.5
    with raises(ValueError, r"rho0", r"positive semidefinite", r"-0\.5"):
        mesolve(SZ, bad, TL)
    with raises(ValueError, r"rho0", r"positive semidefinite"):
        mesolve(SZ, bad, TL, normalize=True)  # normalize fixes the trace only


def test_positivity_check_agrees_with_the_eigenvalues_on_every_path():
    """The positivity check of rho0 (diagonal shortcut, Cholesky certificate, eigenvalues on
    failure) refuses exactly the states whose smallest eigenvalue is below -tol (1e-9)."""
    from nephlab.quantum._convert import as_density_matrix, smallest_eigenvalue_below

    rng = np.random.default_rng(7)
    n = 30
    U = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))[0]
    for lam_min in (0.0, -5e-10, -2e-9, -0.1):
        lam = np.concatenate([[lam_min], rng.uniform(0.0, 1.0, n - 1)])
        lam[1:] *= (1.0 - lam_min) / lam[1:].sum()  # trace 1
        for rho in (np.diag(lam).astype(complex), U @ np.diag(lam) @ U.conj().T):
            rho = 0.5 * (rho + rho.conj().T)
            got = smallest_eigenvalue_below(rho, -1e-9)
            if lam_min < -1e-9:
                assert got is not None and abs(got - lam_min) < 1e-12
                with raises(ValueError, r"rho0", r"positive semidefinite"):
                    as_density_matrix(rho)
            else:
                assert got is None
                np.testing.assert_array_equal(as_density_matrix(rho), rho)


def test_rho0_not_hermitian():
    bad = np.array([[0.5, 0.5], [0.1, 0.5]], complex)
    with raises(ValueError, r"rho0", r"Hermitian"):
        mesolve(SZ, bad, TL)


def test_ket_norm_not_one():
    with raises(ValueError, r"rho0", r"ket", r"norm", r"1\.1"):
        mesolve(SZ, 1.1 * KET, TL)
    with raises(ValueError, r"rho0", r"ket", r"norm"):
        mesolve(SZ, np.array([[0.6], [0.6]], complex), TL)  # (n, 1) column ket


def test_ket_normalize_true():
    res = mesolve(SZ, np.array([3.0, 4.0], complex), TL, method="expm", normalize=True)
    np.testing.assert_allclose(res.states[0], np.outer([0.6, 0.8], [0.6, 0.8]), atol=1e-14)


def test_batched_rho0_one_bad_element():
    rhos = np.stack([RHO, 1.1 * RHO])
    with raises(ValueError, r"rho0", r"trace"):
        mesolve(SZ, rhos, TL)


# ---------------------------------------------------------------------------------------------
# non-finite numbers
# ---------------------------------------------------------------------------------------------


def test_nan_in_H():
    H = SZ.copy()
    H[1, 1] = np.nan
    with raises(ValueError, r"\bH\b", r"NaN", r"\(1, 1\)"):
        mesolve(H, RHO, TL)


def test_inf_in_H():
    H = SZ.copy()
    H[0, 0] = np.inf
    with raises(ValueError, r"\bH\b", r"NaN or inf"):
        mesolve(H, RHO, TL)


def test_nan_in_list_H_operator():
    bad = SX.copy()
    bad[0, 1] = np.nan
    with raises(ValueError, r"H\[1\]", r"NaN"):
        mesolve([SZ, [bad, lambda t, args: 1.0]], RHO, TL)


def test_nan_in_c_op():
    L = SM.copy()
    L[1, 0] = np.nan
    with raises(ValueError, r"c_ops\[0\]", r"NaN"):
        mesolve(SZ, RHO, TL, [L])


def test_inf_in_c_op_list_format():
    L = SM.copy()
    L[1, 0] = np.inf
    with raises(ValueError, r"c_ops\[0\]", r"NaN or inf"):
        mesolve(SZ, RHO, TL, [[[L, lambda t, args: 1.0]]])


def test_nan_in_rho0():
    rho = RHO.copy()
    rho[0, 1] = np.nan
    with raises(ValueError, r"rho0", r"NaN"):
        mesolve(SZ, rho, TL)
    with raises(ValueError, r"rho0", r"NaN"):
        mesolve(SZ, np.array([np.nan, 1.0]), TL)


def test_nan_in_e_op():
    E = SZ.copy()
    E[0, 0] = np.nan
    with raises(ValueError, r"e_ops\[0\]", r"NaN"):
        mesolve(SZ, RHO, TL, e_ops=[E])


def test_nan_in_array_coefficient():
    coeff = np.cos(TL)
    coeff[3] = np.nan
    with raises(ValueError, r"H\[1\]\[1\]", r"NaN"):
        mesolve([SZ, [SX, coeff]], RHO, TL)


def test_array_coefficient_wrong_length():
    with raises(ValueError, r"H\[1\]\[1\]", r"tlist", r"\(7,\)"):
        mesolve([SZ, [SX, np.ones(7)]], RHO, TL)


def test_callable_coefficient_nan_at_some_time():
    def f(t, args):
        return jnp.where(t > 0.5, jnp.nan, 1.0)

    with raises(ValueError, r"H\[1\]\[1\]", r"nan", r"t=0\.6"):
        mesolve([SZ, [SX, f]], RHO, TL)


def test_callable_c_op_coefficient_inf():
    with raises(ValueError, r"c_ops\[0\]", r"inf", r"t=0(\.0)?\b"):
        mesolve(SZ, RHO, TL, [[[SM, lambda t, args: 1.0 / t]]])


def test_callable_H_returning_nan():
    with raises(ValueError, r"H\(t=", r"NaN"):
        mesolve(lambda t, args: SZ * jnp.where(t > 0.9, jnp.nan, 1.0), RHO, TL, method="tsit5")


def test_nonfinite_numeric_coefficient():
    with raises(ValueError, r"H\[1\]\[1\]", r"inf"):
        mesolve([SZ, [SX, float("inf")]], RHO, TL)


# ---------------------------------------------------------------------------------------------
# tlist
# ---------------------------------------------------------------------------------------------


def test_tlist_not_increasing():
    with raises(ValueError, r"tlist", r"strictly increasing", r"tlist\[2\]"):
        mesolve(SZ, RHO, [0.0, 0.5, 0.5, 1.0])
    with raises(ValueError, r"tlist", r"strictly increasing"):
        mesolve(SZ, RHO, [1.0, 0.5, 0.0])


def test_tlist_not_1d():
    with raises(ValueError, r"tlist", r"1-D", r"\(2, 3\)"):
        mesolve(SZ, RHO, np.linspace(0, 1, 6).reshape(2, 3))


def test_tlist_too_short():
    with raises(ValueError, r"tlist", r"at least 2", r"\(1,\)"):
        mesolve(SZ, RHO, [0.0])
    with raises(ValueError, r"tlist", r"at least 2"):
        mesolve(SZ, RHO, 1.0)


def test_tlist_not_finite():
    with raises(ValueError, r"tlist", r"NaN or inf"):
        mesolve(SZ, RHO, [0.0, 1.0, np.inf])


# ---------------------------------------------------------------------------------------------
# method and options
# ---------------------------------------------------------------------------------------------


def test_unknown_method():
    with raises(ValueError, r"method", r"'rk45'", r"'tsit5'"):
        mesolve(SZ, RHO, TL, method="rk45")


def test_unknown_option_key():
    with raises(ValueError, r"options", r"'atoll'", r"'atol'"):
        mesolve(SZ, RHO, TL, options={"atoll": 1e-8})


@pytest.mark.parametrize("method", FIXED_STEP)
def test_dt_missing_for_fixed_step(method):
    with raises(ValueError, rf"method='{method}'", r"\bdt\b"):
        mesolve(SZ, RHO, TL, method=method)


@pytest.mark.parametrize("method", NOT_FIXED_STEP)
def test_dt_given_to_non_fixed_step_method(method):
    # the message names every method that does take dt (derived from the registry)
    with raises(ValueError, r"dt=0\.01", rf"method='{method}'", *[repr(m) for m in FIXED_STEP]):
        mesolve(SZ, RHO, TL, method=method, dt=0.01)


@pytest.mark.parametrize("dt", [0.0, -0.01, np.nan])
def test_dt_not_positive(dt):
    with raises(ValueError, r"\bdt\b"):
        mesolve(SZ, RHO, TL, method="rk4", dt=dt)


def test_expm_with_time_dependent_H():
    with raises(ValueError, r"method='expm'", r"time-independent H"):
        mesolve([SZ, [SX, lambda t, args: jnp.cos(t)]], RHO, TL, method="expm")
    with raises(ValueError, r"method='expm'", r"time-independent H"):
        mesolve([SZ, [SX, np.cos(TL)]], RHO, TL, method="expm")
    with raises(ValueError, r"method='expm'", r"callable"):
        mesolve(lambda t, args: SZ, RHO, TL, method="expm")


def test_expm_with_time_dependent_c_ops():
    with raises(ValueError, r"method='expm'", r"c_ops"):
        mesolve(SZ, RHO, TL, [[[SM, lambda t, args: jnp.exp(-t)]]], method="expm")


def test_magnus4_with_time_dependent_c_ops():
    with raises(ValueError, r"method='magnus4'", r"c_ops", r"time-dependent"):
        mesolve(SZ, RHO, TL, [[[SM, lambda t, args: jnp.exp(-t)]]], method="magnus4", dt=0.01)


def test_kvaerno5_with_callable_H_is_refused_or_runs():
    """kvaerno5 declares callable_h=True; the call must not fail with a shape/JAX error."""
    res = mesolve(lambda t, args: SZ, RHO, np.linspace(0, 0.1, 3), method="kvaerno5")
    assert res.method == "kvaerno5"


@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("value", [-1e-6, 0.0])
def test_tolerance_not_positive(name, value):
    with raises(ValueError, rf"\b{name}\b", re.escape(repr(value))):
        mesolve(SZ, RHO, TL, method="tsit5", **{name: value})


def test_tolerance_wrong_type():
    with raises(TypeError, r"rtol", r"str"):
        mesolve(SZ, RHO, TL, rtol="1e-6")


def test_negative_tolerance_via_options():
    with raises(ValueError, r"atol", r"-1"):
        mesolve(SZ, RHO, TL, options={"atol": -1.0})


@pytest.mark.parametrize("value", [0, -5, 2.5, True])
def test_max_steps_not_positive_int(value):
    with raises(ValueError, r"max_steps", re.escape(repr(value))):
        mesolve(SZ, RHO, TL, max_steps=value)


def test_nsteps_bad_via_options():
    with raises(ValueError, r"max_steps"):
        mesolve(SZ, RHO, TL, options={"nsteps": 0})


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------


def test_memory_estimate_exceeds_free_memory():
    """expm builds an n² × n² superoperator: n = 200 needs ~200 GB per system, 16 systems ~3 TB.

    The check must fire before anything that size is allocated (the inputs here are ~10 MB).
    """
    n, B = 200, 16
    rng = np.random.default_rng(0)
    d = rng.uniform(size=(B, n))
    rho = np.zeros((B, n, n), complex)
    idx = np.arange(n)
    rho[:, idx, idx] = d / d.sum(axis=1, keepdims=True)
    H = np.diag(np.arange(n, dtype=float)).astype(complex)
    with raises(ValueError, r"GB", r"method='expm'", r"n=200", r"batch=16"):
        mesolve(H, rho, TL, method="expm")


# ---------------------------------------------------------------------------------------------
# formerly known gaps, fixed: the batch, args, tlist and Hermiticity checks below
# ---------------------------------------------------------------------------------------------


def test_batch_shapes_do_not_broadcast():
    with raises(ValueError, r"\bH\b", r"rho0", r"\(3,\)", r"\(2,\)"):
        mesolve(np.stack([SZ] * 3), np.stack([RHO] * 2), TL)


def test_batch_shapes_H_c_op_do_not_broadcast():
    with raises(ValueError, r"c_ops\[0\]", r"\bH\b"):
        mesolve(np.stack([SZ] * 3), RHO, TL, [np.stack([SM] * 2)])


def test_args_with_non_numeric_value():
    with raises(TypeError, r"args", r"label"):
        mesolve([SZ, [SX, lambda t, args: args["w"] * t]], RHO, TL, args={"w": 1.0, "label": "x"}, method="tsit5")


@pytest.mark.filterwarnings("ignore:Casting complex values")
def test_complex_tlist():
    with raises((TypeError, ValueError), r"tlist"):
        mesolve(SZ, RHO, TL + 0.1j)


def test_non_hermitian_list_H_between_sampled_times():
    # TL = 0, .2, .4, .6, .8, 1: the coefficient is complex at t = 0.2 only; every time is checked
    def f(t, args):
        return jnp.where((t > 0.1) & (t < 0.3), 1.0 + 1.0j, 1.0 + 0.0j)

    with raises(ValueError, r"H\(t=0\.2\)", r"Hermitian"):
        mesolve([SZ, [SX, f]], RHO, TL, method="tsit5")
