"""Gradients on the sparse format: ``nephlab.quantum.jax.mesolve(..., format="sparse")``.

The sparse solve runs ``nephlab.mesolve``'s sparse right-hand side with fixed operators; what is
differentiated is ``args`` (drive amplitudes, rates through ``[C, sqrt(args["g"])]``) and
``rho0``. Checks: the gradient equals the dense ``nqj.mesolve`` gradient of the same problem and
central finite differences of the sparse solve; the forward solve equals
``nephlab.mesolve(format="sparse")``; vmap over args equals a loop (of the gradient too, ``slow``);
forward mode equals reverse mode; Qobj inputs equal scipy.sparse ones; bad input is refused.

Tolerances: rk4 runs the same grid on both formats, so the two differ by rounding only (1e-10
allows for the ~10⁴ floating-point operations per entry and step). The adaptive solves run at
rtol=1e-10, atol=1e-12; the dense solve integrates in the interaction frame and the sparse one
in the lab frame, so their step sequences differ and the results agree to the local error
control, ~1e-9 (tested at 1e-8). rk4 is smooth in the parameters: a central difference with
h = 1e-5 is accurate to ~h²|f'''| + 1e-16/h ≈ 1e-10 (tested at 1e-8).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import nephlab
from nephlab.quantum import jax as nqj
from nephlab.quantum.xp import kerr_chain

# the D = 27 Kerr lattice (3 driven Kerr cavities, d = 3), drive F = 0.3 in H, loss κ = 0.1
H_K, _, A_K = kerr_chain(3)
D = H_K.shape[0]
AD_K = [x.conj().T.tocsr() for x in A_K]
NUM0 = (AD_K[0] @ A_K[0]).tocsr()
DRIVE0 = (A_K[0] + AD_K[0]).tocsr()
TL_K = np.linspace(0.0, 1.0, 3)
P_K = (0.2, 0.1, 0.3)  # extra drive amplitude on site 0, loss rate, weight of |1⟩ in rho0


def _lattice_rho0(p):
    """(1 - p)|000⟩⟨000| + p|100⟩⟨100| (one photon in cavity 0): a differentiable density matrix."""
    return jnp.zeros((D, D), complex).at[0, 0].set(1 - p).at[D // 3, D // 3].set(p)


def _lattice_solve(fmt: str):
    """The lattice with a modulated drive F cos t on site 0 and loss rates γ on every site (rk4,
    dt = 0.05, checkpointed reverse mode) as a function of (F, γ, p): (states, expect)."""
    conv = (lambda m: m) if fmt == "sparse" else (lambda m: m.toarray())

    def solve(F, gamma, p):
        H = [conv(H_K), [conv(DRIVE0), lambda t, args: args["F"] * jnp.cos(t)]]
        c_ops = [[conv(a), lambda t, args: jnp.sqrt(args["gamma"])] for a in A_K]
        r = nqj.mesolve(H, _lattice_rho0(p), TL_K, c_ops, e_ops=[conv(NUM0)], args={"F": F, "gamma": gamma},
                        method="rk4", dt=0.05, format=fmt)
        return r.states, r.expect

    return solve


def _lattice_loss(fmt: str):
    """⟨a₀†a₀⟩(T) of the lattice (:func:`_lattice_solve`) as a function of (F, γ, p)."""
    solve = _lattice_solve(fmt)
    return lambda F, gamma, p: solve(F, gamma, p)[1][0, -1].real


@functools.lru_cache(maxsize=None)
def _lattice_forward():
    """The jitted sparse forward solve, compiled once for the finite differences and the
    comparison with nephlab.mesolve."""
    return jax.jit(_lattice_solve("sparse"))


@functools.lru_cache(maxsize=None)
def _lattice_grad(fmt: str) -> np.ndarray:
    return np.array(jax.grad(_lattice_loss(fmt), argnums=(0, 1, 2))(*P_K))


def test_kerr_lattice_gradient_equals_finite_differences():
    def f(*p):
        return _lattice_forward()(*p)[1][0, -1].real

    h = 1e-5
    fd = []
    for k in range(3):
        e = np.eye(3)[k] * h
        fd.append((float(f(*(np.array(P_K) + e))) - float(f(*(np.array(P_K) - e)))) / (2 * h))
    g = _lattice_grad("sparse")
    assert np.all(np.abs(g) > 1e-2)  # every parameter matters
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8)


def test_kerr_lattice_gradient_equals_dense():
    np.testing.assert_allclose(_lattice_grad("sparse"), _lattice_grad("dense"), rtol=0, atol=1e-10)


def test_forward_equals_nephlab_mesolve_sparse():
    """The same sparse right-hand side and rk4 grid as nephlab.mesolve: equal states."""
    H = [H_K, [DRIVE0, lambda t, args: args["F"] * jnp.cos(t)]]
    c_ops = [[a, lambda t, args: jnp.sqrt(args["gamma"])] for a in A_K]
    rho0 = np.asarray(_lattice_rho0(0.3))
    args = {"F": 0.2, "gamma": 0.1}
    ref = nephlab.mesolve(H, rho0, TL_K, c_ops, e_ops=[NUM0], args=args, method="rk4", dt=0.05, format="sparse")
    states, expect = _lattice_forward()(args["F"], args["gamma"], 0.3)
    assert ref.stats["format"] == "sparse"
    np.testing.assert_allclose(np.asarray(states), ref.states, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(expect[0]).real, np.real(ref.expect[0]), rtol=0, atol=1e-12)


# a small driven damped Kerr cavity for the adaptive methods (their compile time grows with n)
N = 5
A = sp.diags(np.sqrt(np.arange(1, N)), 1, format="csr", dtype=complex)
NUM = (A.T @ A).tocsr()
TL = np.linspace(0.0, 2.0, 4)
TIGHT = dict(rtol=1e-10, atol=1e-12)


def _cavity_loss(fmt: str, method: str, gradient):
    """⟨a†a⟩(T) as a function of (F, γ, θ): drive F cos t, loss rate γ, initial ket cos θ|0⟩ + sin θ|1⟩."""
    conv = (lambda m: m) if fmt == "sparse" else (lambda m: m.toarray())
    opts = dict(dt=0.05) if method == "rk4" else TIGHT

    def loss(F, gamma, theta):
        H = [conv(0.4 * NUM + 0.1 * (A.T @ A.T @ A @ A)), [conv(A + A.T), lambda t, args: args["F"] * jnp.cos(t)]]
        psi0 = jnp.zeros(N, complex).at[0].set(jnp.cos(theta)).at[1].set(jnp.sin(theta))
        r = nqj.mesolve(H, psi0, TL, [[conv(A), lambda t, args: jnp.sqrt(args["gamma"])]], e_ops=[conv(NUM)],
                        args={"F": F, "gamma": gamma}, method=method, gradient=gradient, format=fmt, **opts)
        return r.expect[0, -1].real

    return loss


P_C = (0.5, 0.3, 0.4)


@functools.lru_cache(maxsize=None)
def _cavity_grad(fmt: str, method: str, gradient) -> np.ndarray:
    return np.array(jax.grad(_cavity_loss(fmt, method, gradient), argnums=(0, 1, 2))(*P_C))


@pytest.mark.parametrize("method, gradient", [("tsit5", "checkpoint"), ("dopri5", "direct")])
def test_adaptive_gradient_equals_dense(method, gradient):
    g_sparse = _cavity_grad("sparse", method, gradient)
    assert np.all(np.abs(g_sparse) > 1e-2)
    np.testing.assert_allclose(g_sparse, _cavity_grad("dense", method, gradient), rtol=0, atol=1e-8)


@pytest.mark.slow
def test_high_order_gradient_equals_dense():
    """dop853 (a 12-stage tableau with its own error estimator and dense output) through the
    sparse right-hand side. vern7 runs the same tableau-generic loop; its dense-format gradient is
    checked in tests/test_rk_dop853.py, so it is not compiled a second time here (it cost ~45 s
    before the looped step transpose, ~12 s now)."""
    np.testing.assert_allclose(_cavity_grad("sparse", "dop853", "checkpoint"),
                               _cavity_grad("dense", "dop853", "checkpoint"), rtol=0, atol=1e-8)


def test_vmap_over_args_equals_loop():
    """jax.vmap over args of the forward solve equals a Python loop."""
    f = jax.jit(_cavity_loss("sparse", "tsit5", None))
    Fs = jnp.array([0.1, 0.5, 0.9])
    batched = np.asarray(jax.vmap(f, in_axes=(0, None, None))(Fs, *P_C[1:]))
    looped = np.array([f(F, *P_C[1:]) for F in Fs])
    np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-13)


@pytest.mark.slow
def test_vmap_of_gradient_over_args_equals_loop():
    """jax.vmap over args of the checkpointed reverse-mode gradient equals a Python loop (rk4:
    what is tested is the batching of the reverse pass, which an adaptive method's longer compile
    would not add to)."""
    g = jax.jit(jax.grad(_cavity_loss("sparse", "rk4", "checkpoint"), argnums=(0, 1)))
    Fs = jnp.array([0.1, 0.5, 0.9])
    batched = np.array(jax.vmap(g, in_axes=(0, None, None))(Fs, *P_C[1:])).T
    looped = np.array([g(F, *P_C[1:]) for F in Fs])
    np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-13)


def test_jacfwd_equals_reverse_mode():
    """Forward mode through nephlab's loop (gradient=None) equals the reverse-mode gradient."""
    jf = np.array(jax.jacfwd(_cavity_loss("sparse", "tsit5", None), argnums=(0, 1, 2))(*P_C))
    # forward mode also differentiates the step sizes, the discrete adjoint holds them fixed:
    # both are the exact gradient to the tolerance of the solve
    np.testing.assert_allclose(jf, _cavity_grad("sparse", "tsit5", "checkpoint"), rtol=0, atol=1e-8)


def _amp(t, args):
    return args["F"]


def _rate(t, args):
    return jnp.sqrt(args["g"])


def test_qobj_operators_and_no_eops():
    """QuTiP Qobjs (Dia data) and kets give the scipy.sparse result; without e_ops expect is (0, T)."""
    qutip = pytest.importorskip("qutip")
    tl, args = np.linspace(0.0, 1.0, 3), {"F": 0.3, "g": 0.2}
    aq = qutip.destroy(N)
    r_q = nqj.mesolve([qutip.num(N), [aq + aq.dag(), _amp]], qutip.basis(N, 0), tl, [[aq, _rate]], args=args,
                      method="rk4", dt=0.1, format="sparse")
    r_s = nqj.mesolve([NUM, [A + A.T, _amp]], np.eye(N)[0], tl, [[A, _rate]], args=args, method="rk4", dt=0.1,
                      format="sparse")
    assert r_s.expect.shape == (0, 3) and r_s.states.shape == (3, N, N)
    np.testing.assert_allclose(np.asarray(r_q.states), np.asarray(r_s.states), rtol=0, atol=1e-14)


def test_bad_input_is_refused():
    tl = np.array([0.0, 1.0])
    rho0 = np.eye(N)[0]
    with pytest.raises(TypeError, match="H is a callable"):
        nqj.mesolve(lambda t, args: NUM.toarray(), rho0, tl, format="sparse")
    with pytest.raises(ValueError, match="method 'expm'.*format='sparse'"):
        nqj.mesolve(NUM, rho0, tl, [A], method="expm", format="sparse")
    with pytest.raises(ValueError, match="format must be one of"):
        nqj.mesolve(NUM, rho0, tl, format="csr")
    with pytest.raises(TypeError, match=r"H\[1\]\[1\] is a sampled coefficient"):
        nqj.mesolve([NUM, [A + A.T, np.ones(2)]], rho0, tl, format="sparse")
    with pytest.raises(TypeError, match="H is a scipy.sparse matrix; pass format='sparse'"):
        nqj.mesolve(NUM, rho0, tl)
    with pytest.raises(ValueError, match=r"c_ops\[0\] has shape \(3, 3\).*n=5"):
        nqj.mesolve(NUM, rho0, tl, [sp.eye(3)], format="sparse")
    with pytest.raises(ValueError, match="gradient='direct' is not available with method 'dop853'"):
        nqj.mesolve(NUM, rho0, tl, method="dop853", gradient="direct", format="sparse")

    def through_rate(kappa):  # a traced operator: the rate must go through args
        return nqj.mesolve(NUM, rho0, tl, [jnp.sqrt(kappa) * A.toarray()], format="sparse").expect

    with pytest.raises(TypeError, match=r"c_ops\[0\] is a JAX tracer.*args\['gamma'\]"):
        jax.grad(lambda k: through_rate(k).sum().real)(0.1)

    def through_constant(kappa):
        return nqj.mesolve(NUM, rho0, tl, [[A, jnp.sqrt(kappa)]], e_ops=[NUM], format="sparse").expect

    with pytest.raises(TypeError, match=r"c_ops\[0\]\[1\] is a JAX tracer"):
        jax.grad(lambda k: through_constant(k).sum().real)(0.1)


@pytest.mark.parametrize("n, density", [(9, 0.3), (40, 0.9)])  # unrolled (w ≤ 32) and scanned ELL rows
def test_ell_product_derivatives_are_gathers(n, density):
    """The hand-written derivatives of the ELL product (nephlab.quantum._ops._ell_product): the
    adjoint layout applies A†; grad and jacfwd equal JAX's own derivatives of the plain kernel
    (the layout without its adjoint fields) to rounding; the compiled gradient has no scatter."""
    from nephlab.quantum import _ops

    m = sp.random(n, n, density=density, random_state=2) + 1j * sp.random(n, n, density=density, random_state=3)
    a = _ops.to_sparse(m + sp.eye(n))
    dense = (m + sp.eye(n)).toarray()
    rng = np.random.default_rng(1)
    y = jnp.asarray(_ops.split(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))))
    g = jnp.asarray(rng.normal(size=(2, n, n)))
    np.testing.assert_allclose(np.asarray(_ops._ell_adjoint_lmul(a, g)),
                               _ops.split(dense.conj().T @ np.asarray(_ops.merge(g))), rtol=0, atol=1e-12)

    def f(s, y, plain):
        b = _ops.with_values(a, a["ev"] * s)  # values scaled by a parameter, as the coefficients do
        if plain:
            b = {"ev": b["ev"], "ec": b["ec"]}
        return jnp.sum(jnp.sin(_ops.sparse_lmul(b, y)))

    grad = jax.jit(jax.grad(f, argnums=(0, 1)), static_argnums=2)
    for ours, ref in zip(grad(1.3, y, False), grad(1.3, y, True)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(jax.jacfwd(f)(1.3, y, False), jax.jacfwd(f)(1.3, y, True), rtol=1e-13)
    assert "scatter" not in grad.lower(1.3, y, False).compile().as_text()
    assert "scatter" in grad.lower(1.3, y, True).compile().as_text()  # what the rules avoid
