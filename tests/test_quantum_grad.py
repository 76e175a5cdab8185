"""Differentiable solves (nephlab.quantum.jax): forward values against nephlab.mesolve, gradients
against central finite differences, jacfwd/vmap/jit, a parameter fit, and reverse-mode memory.

Tolerances: the adaptive solves run at rtol=1e-11, atol=1e-13, so a solution is accurate to
~1e-10; a central difference with step h=1e-4 then carries a rounding/solver error of about
1e-10/1e-4 = 1e-6·|f| at worst and a truncation error h²|f'''|/6 ~ 1e-9, which is why the
gradient comparison is at 1e-6 relative (with an absolute floor of 1e-8 for tiny components).
rk4 and expm are smooth in the parameters (fixed grid, exact exponentials): their central
differences are accurate to ~1e-9.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nephlab
from nephlab.quantum import destroy, sigmam, sigmax, sigmaz
from nephlab.quantum import jax as nqj

N = 6
A = destroy(N)
NUM = A.T @ A
TL = np.linspace(0.0, 2.0, 5)
TIGHT = dict(rtol=1e-11, atol=1e-13)


def _cavity_rho0(p):
    """(1 - p)|0⟩⟨0| + p|1⟩⟨1|: a differentiable initial state."""
    return jnp.zeros((N, N), complex).at[0, 0].set(1 - p).at[1, 1].set(p)


def _drive(t, args):
    return jnp.cos(args["w"] * t)


def _cavity_loss(method, gradient="checkpoint", timedep=True):
    """⟨a†a⟩(T) of a driven damped cavity as a function of (F, κ, w, p)."""
    opts = dict(dt=0.01) if method == "rk4" else ({} if method == "expm" else TIGHT)

    def loss(F, kappa, w, p):
        H0 = 0.3 * NUM
        H = [H0, [F * (A + A.T), _drive]] if timedep else H0 + F * (A + A.T)
        r = nqj.mesolve(H, _cavity_rho0(p), TL, [jnp.sqrt(kappa) * A], e_ops=[NUM], args={"w": w},
                        method=method, gradient=gradient, **opts)
        return r.expect[0, -1].real

    return loss


def _ramp(t):
    return 1 + 0.5 * jnp.sin(t)


P0 = (0.7, 0.4, 1.3, 0.2)  # F, κ, w, p


def _central(f, x, h=1e-4):
    out = []
    for i in range(len(x)):
        xp = list(x); xm = list(x)
        xp[i] += h; xm[i] -= h
        out.append((float(f(*xp)) - float(f(*xm))) / (2 * h))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# forward values against nephlab.mesolve
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tsit5", "dopri5", "rk4", "expm"])
def test_cavity_matches_mesolve(method):
    """The cavity of the gradient tests, at P0 (time-dependent drive F cos(w t) except for expm);
    the compiled forward solves are reused by the finite differences below."""
    F, kappa, w, p = P0
    H = 0.3 * NUM + F * (A + A.T) if method == "expm" else [0.3 * NUM, [F * (A + A.T), _drive]]
    c_ops = [np.sqrt(kappa) * A]
    opts = dict(dt=0.01) if method == "rk4" else ({} if method == "expm" else TIGHT)
    ref = nephlab.mesolve(H, _cavity_rho0(p), TL, c_ops, e_ops=[NUM], args={"w": w}, method=method, **opts)
    r = nqj.mesolve(H, _cavity_rho0(p), TL, c_ops, e_ops=[NUM], args={"w": w}, method=method, **opts)
    assert isinstance(r.states, jax.Array) and r.states.shape == (len(TL), N, N)
    assert r.expect.shape == (1, len(TL))
    np.testing.assert_allclose(np.asarray(r.expect[0].real), ref.expect[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.asarray(r.states), ref.states, rtol=0, atol=1e-8)
    assert abs(float(r.expect[0, -1].real) - float(_cavity_loss(method, timedep=method != "expm")(*P0))) < 1e-14


def test_driven_qubit_time_dependent_matches_mesolve():
    """A qubit with a time-dependent drive cos(w t) (args) and decay: tsit5 with gradient=None runs
    nephlab's own integrator (the cavity test covers diffrax's); it equals mesolve to 1e-8."""
    H = [0.5 * sigmaz(), [0.8 * sigmax(), _drive]]
    c_ops = [np.sqrt(0.2) * sigmam()]
    rho0 = jnp.array([[0, 0], [0, 1]], complex)
    tl = np.linspace(0, 3, 7)
    ref = nephlab.mesolve(H, rho0, tl, c_ops, e_ops=[sigmaz()], args={"w": 1.1}, method="tsit5", **TIGHT)
    r = nqj.mesolve(H, rho0, tl, c_ops, e_ops=[sigmaz()], args={"w": jnp.asarray(1.1)}, gradient=None, **TIGHT)
    np.testing.assert_allclose(np.asarray(r.expect[0].real), ref.expect[0], rtol=0, atol=1e-8)
    # a time-dependent collapse operator in list format, L(t) = sqrt(0.2) (1 + 0.5 sin t) σ-
    c_td = [[np.sqrt(0.2) * sigmam(), _ramp]]
    ref = nephlab.mesolve(H, rho0, tl, c_td, e_ops=[sigmaz()], args={"w": 1.1}, method="tsit5", **TIGHT)
    r = nqj.mesolve(H, rho0, tl, c_td, e_ops=[sigmaz()], args={"w": 1.1}, gradient=None, **TIGHT)
    np.testing.assert_allclose(np.asarray(r.expect[0].real), ref.expect[0], rtol=0, atol=1e-8)


def test_qobj_input_and_ket():
    qutip = pytest.importorskip("qutip")
    H = qutip.num(N) * 0.3 + 0.7 * (qutip.destroy(N) + qutip.create(N))
    psi0 = qutip.basis(N, 0)
    r = nqj.mesolve(H, psi0, TL, [np.sqrt(0.4) * qutip.destroy(N)], e_ops=[qutip.num(N)], method="expm")
    ref = qutip.mesolve(H, psi0, TL, [np.sqrt(0.4) * qutip.destroy(N)], e_ops=[qutip.num(N)],
                        options={"atol": 1e-12, "rtol": 1e-10})
    np.testing.assert_allclose(np.asarray(r.expect[0].real), ref.expect[0], rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# gradients against central finite differences
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tsit5", pytest.param("dopri5", marks=pytest.mark.slow),
                                    pytest.param("rk4", marks=pytest.mark.slow)])
def test_gradient_matches_finite_differences(method):
    """d⟨a†a⟩(T)/d(F, κ, w, p) with a time-dependent drive: reverse mode (checkpointed)."""
    loss = _cavity_loss(method)
    g = np.array(jax.grad(loss, argnums=(0, 1, 2, 3))(*P0))
    fd = _central(loss, P0)
    assert np.all(np.abs(fd) > 1e-3)  # every parameter matters here
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def _kerr_loss(frame: bool, gradient="checkpoint"):
    """Re⟨a†a⟩(T) + Re⟨a⟩(T) + Im⟨a⟩(T/3) of a detuned driven Kerr cavity, a function of (Δ, K, F, κ).

    Δ and K sit on the diagonal of H, which sets the interaction frame of the adaptive methods;
    ⟨a⟩ is off-diagonal, so it sees the frame's phases. H given as a constant runs in the frame;
    the same H as ``[[H, 1]]`` (a time-dependent term with coefficient 1) has no constant diagonal,
    hence no frame: the lab-frame path of the same problem.
    """
    tl = np.linspace(0.0, 3.0, 4)

    def loss(delta, kerr, F, kappa):
        H = delta * NUM + kerr * (NUM @ NUM - NUM) + F * (A + A.T)
        r = nqj.mesolve(H if frame else [[H, lambda t, args: 1.0]], _cavity_rho0(0.0), tl, [jnp.sqrt(kappa) * A],
                        e_ops=[NUM, A], gradient=gradient, **TIGHT)
        return r.expect[0, -1].real + r.expect[1, -1].real + r.expect[1, 1].imag

    return loss


def test_frame_gradient_matches_lab_frame_and_finite_differences():
    """The interaction frame of H's diagonal (whose entries depend on the differentiated Δ and K)
    gives the lab-frame path's values and gradients, and central differences; gradient=None
    (nephlab's own loop, also in the frame) gives the same values."""
    x = (1.1, 0.4, 0.7, 0.3)  # Δ, K, F, κ
    framed, lab = _kerr_loss(True), _kerr_loss(False)
    v, g = jax.jit(jax.value_and_grad(framed, argnums=(0, 1, 2, 3)))(*x)
    v_lab, g_lab = jax.jit(jax.value_and_grad(lab, argnums=(0, 1, 2, 3)))(*x)
    g, g_lab = np.array(g), np.array(g_lab)
    assert abs(float(v) - float(v_lab)) < 1e-9
    assert abs(float(_kerr_loss(True, gradient=None)(*x)) - float(v)) < 1e-9
    fd = _central(framed, x)
    assert np.all(np.abs(fd) > 1e-2)  # every parameter matters here
    np.testing.assert_allclose(g, g_lab, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("frame", [True, False])
@pytest.mark.parametrize("dense", [False, True])
def test_hand_written_step_transpose_matches_jax_vjp(frame, dense):
    """The hand-written transpose of a Tsit5 step of a constant Lindbladian (nephlab.quantum._lindblad_vjp)
    equals jax.vjp of the same step: random non-Hermitian H, two collapse operators, a non-Hermitian
    state and random cotangents, with and without the interaction frame and the dense-output stage."""
    from nephlab.quantum import _autodiff, _lindblad_vjp, _ops, _rk_adjoint
    from nephlab.quantum._rk import tsit5_tableau

    rng = np.random.default_rng(7)

    def rc(*shape):
        return jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape))

    n = 5
    st = _autodiff._Structure("tsit5", "checkpoint", (None,), (None, None), 100, True, frame)
    dyn = {"H": [rc(n, n)], "C": [rc(n, n), rc(n, n)], "rho0": rc(n, n), "args": {}, "tlist": jnp.array([0.3, 10.0])}
    f, p, q = _autodiff._field(st, dyn)
    tb = tsit5_tableau()
    y, ybar = _ops.split(rc(n, n)), _ops.split(rc(n, n))
    kbar = [_ops.split(rc(n, n)) for _ in range(7)] if dense else None
    pd, rebuild, _ = _rk_adjoint._split_params(p)
    ref_p, ref_y = _rk_adjoint._generic_step_vjp(f, tb, rebuild, pd, q, 0.7, 0.05, y, ybar, kbar)
    got_p, got_y = _lindblad_vjp.step_vjp(tb, _autodiff._stage_phases if frame else None)(
        p, q, 0.7, 0.05, y, ybar, kbar)
    for ref, got in zip(list(ref_p) + [ref_y], jax.tree_util.tree_leaves(got_p) + [got_y]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.parametrize("method", ["tsit5", "dop853"])
@pytest.mark.parametrize("dense", [False, True])
def test_looped_step_transpose_equals_unrolled_jax_vjp(method, dense):
    """The transpose of one step with one loop over the stages in each direction
    (nephlab.quantum._rk_adjoint._looped_step_vjp, the generic path: time-dependent or sparse
    problems) equals jax.vjp of the unrolled step, with and without the dense output's stages
    (DOP853: FSAL and three extra stages), to rounding."""
    from nephlab.quantum import _autodiff, _ops, _rk, _rk_adjoint
    from nephlab.quantum.timedep import time_function

    rng = np.random.default_rng(11)

    def rc(*shape):
        return jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape))

    n = 4
    st = _autodiff._Structure(method, "checkpoint", (None, time_function(lambda t, args: args["w"] * jnp.cos(t), "f")),
                              (None,), 100, True, False)
    dyn = {"H": [rc(n, n), rc(n, n)], "C": [rc(n, n)], "rho0": rc(n, n), "args": {"w": 0.8},
           "tlist": jnp.array([0.3, 10.0])}
    f, p, q = _autodiff._field(st, dyn)
    tb = {"tsit5": _rk.tsit5_tableau, "dop853": _rk.dop853_tableau}[method]()
    N = _rk_adjoint.stage_table(tb)[0].shape[0]
    y, ybar = _ops.split(rc(n, n)), _ops.split(rc(n, n))
    kbar = [_ops.split(rc(n, n)) for _ in range(N)] if dense else None
    pd, rebuild, _ = _rk_adjoint._split_params(p)
    ref_p, ref_y = _rk_adjoint._generic_step_vjp(f, tb, rebuild, pd, q, 0.7, 0.05, y, ybar, kbar)
    got_p, got_y = _rk_adjoint._looped_step_vjp(f, tb, rebuild, pd, q, 0.7, 0.05, y, ybar,
                                                kbar or [jnp.zeros_like(y)] * N, jnp.asarray(dense))
    for ref, got in zip(list(ref_p) + [ref_y], list(got_p) + [got_y]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(ref))))


def test_checkpoint_recomputed_segments_give_the_same_gradient():
    """The Kerr problem takes 514 Tsit5 steps at rtol 1e-11: with max_steps = 10**6 (1024 checkpoint
    slots) every step's state is kept; with 1000 (32 slots) every 32nd, and the others are
    recomputed in segments. The step sequence is the same, so the gradients agree to rounding. A
    solve that runs out of steps (ten times longer) has NaN value and gradient."""

    def loss(delta, kappa, max_steps, td=False, t_end=3.0):
        H = delta * NUM + 0.4 * (NUM @ NUM - NUM) + 0.7 * (A + A.T)
        r = nqj.mesolve([[H, lambda t, args: 1.0]] if td else H, _cavity_rho0(0.0), np.linspace(0.0, t_end, 4),
                        [jnp.sqrt(kappa) * A], e_ops=[NUM, A], max_steps=max_steps, **TIGHT)
        return r.expect[0, -1].real + r.expect[1, 1].imag

    g_all = np.array(jax.grad(loss, argnums=(0, 1))(1.1, 0.3, 10**6))
    g_seg = np.array(jax.grad(loss, argnums=(0, 1))(1.1, 0.3, 1000))
    np.testing.assert_allclose(g_seg, g_all, rtol=1e-12, atol=0)
    # the generic transpose (jax.vjp of a time-dependent step) through recomputed segments
    g_td = np.array(jax.grad(loss, argnums=(0, 1))(1.1, 0.3, 1000, True))
    np.testing.assert_allclose(g_td, g_all, rtol=1e-7)
    v, g = jax.value_and_grad(loss, argnums=(0, 1))(1.1, 0.3, 1000, False, 30.0)
    assert np.isnan(float(v)) and np.all(np.isnan(np.array(g)))


def test_vmap_of_checkpointed_adaptive_gradient_equals_a_loop():
    """jax.vmap over κ of the tsit5 gradient (nephlab's loop with its discrete adjoint: batched
    while loops with data-dependent step counts) equals the gradients computed one by one."""

    def loss(kappa):
        r = nqj.mesolve(0.3 * NUM + 0.7 * (A + A.T), _cavity_rho0(0.0), np.linspace(0.0, 2.0, 3),
                        [jnp.sqrt(kappa) * A], e_ops=[NUM], rtol=1e-10, atol=1e-12)
        return r.expect[0, -1].real

    kappas = jnp.array([0.2, 0.5, 0.9])
    batched = np.asarray(jax.jit(jax.vmap(jax.grad(loss)))(kappas))
    looped = np.array([float(jax.grad(loss)(float(k))) for k in np.asarray(kappas)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=0)


def test_checkpoint_adaptive_memory_is_sqrt_max_steps():
    """XLA's compiled temp memory of the reverse pass of tsit5 (nephlab's loop with the discrete
    adjoint) holds K + S = 256 checkpointed states and 16 bytes per possible step for
    max_steps = 10000, far below max_steps stored states; it is fixed at compile time, so it cannot
    grow with the number of steps taken."""
    from nephlab.quantum._rk_adjoint import sizes

    max_steps = 10000
    state_bytes = 2 * N * N * 8
    K, S = sizes(max_steps)
    assert (K, S) == (128, 128)

    def f(F):
        r = nqj.mesolve(0.3 * NUM + F * (A + A.T), _cavity_rho0(0.0), np.array([0.0, 2.0]), [0.6 * A],
                        e_ops=[NUM], max_steps=max_steps)
        return r.expect[0, -1].real

    temp = jax.jit(jax.grad(f)).lower(0.7).compile().memory_analysis().temp_size_in_bytes
    assert temp < 3 * ((K + S) * state_bytes + 16 * max_steps) < max_steps * state_bytes / 5, temp


def test_frame_phases_cos_sin():
    """The frame's polynomial cos/sin equal NumPy's to |x|·1e-16 + 1e-15 (the rounding of x)."""
    from nephlab.quantum._autodiff import _cos_sin

    x = np.concatenate([np.linspace(-7.0, 7.0, 2001), np.linspace(-1e4, 1e4, 20001)])
    c, s = (np.asarray(v) for v in _cos_sin(jnp.asarray(x)))
    tol = 1e-15 + 2e-16 * np.abs(x)
    assert np.all(np.abs(c - np.cos(x)) < tol) and np.all(np.abs(s - np.sin(x)) < tol)


def test_gradient_expm_matches_finite_differences():
    loss = _cavity_loss("expm", timedep=False)
    g = np.array(jax.grad(loss, argnums=(0, 1, 3))(*P0))
    fd = _central(lambda F, k, p: loss(F, k, 1.0, p), (P0[0], P0[1], P0[3]))
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_jacfwd_direct_and_vmap():
    """Forward mode (gradient='direct') against central differences; vmap over κ of the solve and
    of its gradient (under jit) equals a loop."""
    F, kappa, w, p = P0

    def direct(F, kappa):
        r = nqj.mesolve([0.3 * NUM, [F * (A + A.T), _drive]], _cavity_rho0(p), TL, [jnp.sqrt(kappa) * A],
                        e_ops=[NUM], args={"w": w}, gradient="direct", max_steps=1000, **TIGHT)
        return r.expect[0, -1].real

    jf = np.array(jax.jacfwd(direct, argnums=(0, 1))(F, kappa))
    np.testing.assert_allclose(jf, _central(lambda F, k: _cavity_loss("tsit5")(F, k, w, p), (F, kappa)), rtol=1e-6)
    loss_x = _cavity_loss("expm", timedep=False)
    kappas = jnp.array([0.2, 0.4, 0.8])
    vm = jax.vmap(lambda k: loss_x(F, k, w, p))(kappas)
    vg = jax.jit(jax.vmap(jax.grad(lambda k: loss_x(F, k, w, p))))(kappas)
    for i, k in enumerate(np.asarray(kappas)):
        assert abs(float(vm[i]) - float(loss_x(F, float(k), w, p))) < 1e-12
        assert abs(float(vg[i]) - float(jax.grad(loss_x, argnums=1)(F, float(k), w, p))) < 1e-10


# ---------------------------------------------------------------------------------------------
# fit, memory, validation
# ---------------------------------------------------------------------------------------------


def test_fit_decay_rate_and_detuning():
    """Recover (γ, Δ) of a driven decaying qubit from ⟨σz⟩ at 6 times (exact synthetic data)."""
    from scipy.optimize import minimize

    tl = np.linspace(0, 4, 7)
    rho0 = jnp.array([[0, 0], [0, 1]], complex)

    def model(theta):
        gamma, delta = theta[0], theta[1]
        H = 0.5 * delta * sigmaz() + 0.6 * sigmax()
        r = nqj.mesolve(H, rho0, tl, [jnp.sqrt(gamma) * sigmam()], e_ops=[sigmaz()], method="expm")
        return r.expect[0, 1:].real

    truth = np.array([0.35, 0.8])
    data = model(jnp.asarray(truth))
    vg = jax.jit(jax.value_and_grad(lambda th: jnp.sum((model(th) - data) ** 2)))
    res = minimize(lambda th: tuple(np.asarray(v, float) for v in vg(jnp.asarray(th))), x0=[0.5, 0.5], jac=True,
                   method="BFGS", options={"gtol": 1e-14, "maxiter": 500})
    np.testing.assert_allclose(res.x, truth, rtol=1e-6)


@pytest.mark.slow
def test_checkpoint_memory_does_not_grow_with_steps():
    """XLA's compiled temp memory of the reverse pass of 3200 rk4 steps with recursive
    checkpointing stays below a tenth of what storing every step (plain autodiff) needs,
    3200 states. (Measured with jax 0.10 on CPU: 32 kB at 100 steps, 76 kB at 1600, 146 kB at 6400:
    ~log2(steps) checkpointed states plus the 8-byte step grid, against 576 bytes per stored state.)"""
    steps = 3200
    state_bytes = 2 * N * N * 8  # real-split complex128 state

    def f(F):
        r = nqj.mesolve(0.3 * NUM + F * (A + A.T), _cavity_rho0(0.0), np.array([0.0, 2.0]), [0.6 * A],
                        e_ops=[NUM], method="rk4", dt=2.0 / steps, gradient="checkpoint")
        return r.expect[0, -1].real

    temp = jax.jit(jax.grad(f)).lower(0.7).compile().memory_analysis().temp_size_in_bytes
    assert temp < steps * state_bytes / 10, temp


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(method="magnus4"), ValueError, "magnus4"),
        (dict(method="bogus"), ValueError, "method must be one of"),
        (dict(gradient="adjoint"), ValueError, "gradient must be one of"),
        (dict(method="rk4", dt=0.1, gradient=None), ValueError, "gradient=None is not available"),
        (dict(method="rk4"), ValueError, "needs a step"),
        (dict(dt=0.1), ValueError, "dt="),
        (dict(tlist=[0.0, np.nan]), ValueError, "tlist contains NaN"),
        (dict(tlist=[0.0, 1.0, 0.5]), ValueError, "strictly increasing"),
        (dict(rho0=np.eye(3)), ValueError, "rho0 must be"),
        (dict(c_ops=[np.eye(3)]), ValueError, r"c_ops\[0\]"),
        (dict(e_ops=[np.eye(3)]), ValueError, r"e_ops\[0\]"),
        (dict(H=np.ones((2, 3))), ValueError, "H must be one square matrix"),
        (dict(H=[sigmaz(), [sigmax(), 3.0]]), TypeError, r"H\[1\]\[1\]"),
        (dict(method="expm", H=[sigmaz(), [sigmax(), _drive]], args={"w": 1.0}), ValueError, "time-independent"),
        (dict(args={"w": "fast"}), TypeError, r"args\['w'\]"),
        (dict(rtol=-1.0), ValueError, "rtol"),
        (dict(c_ops=[jnp.full((2, 2), jnp.nan)]), ValueError, r"c_ops\[0\] contains NaN"),
    ],
)
def test_validation(kwargs, exc, match):
    call = dict(H=sigmaz(), rho0=np.eye(2) / 2, tlist=[0.0, 1.0], c_ops=None)
    call.update(kwargs)
    H, rho0, tlist, c_ops = call.pop("H"), call.pop("rho0"), call.pop("tlist"), call.pop("c_ops")
    with pytest.raises(exc, match=match):
        nqj.mesolve(H, rho0, tlist, c_ops, **call)


def test_namespace_does_not_shadow_jax():
    import nephlab.quantum as q

    assert "jax" not in q.__all__
    assert q.jax.mesolve is nqj.mesolve
    assert jax.__name__ == "jax"
