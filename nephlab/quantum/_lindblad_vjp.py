"""Hand-written transpose of one Runge–Kutta step of a time-independent master equation.

The right-hand side of :mod:`nephlab.quantum._autodiff` for a constant Liouvillian is, in the
interaction frame of a diagonal D (ρ̃ = P_t ∘ ρ, ``P_t[i, j] = exp(i (D_i - D_j)(t - t0))``; no
frame: P = 1), ``f(t, Y) = P_t ∘ L(P_t* ∘ Y)`` with ``L(ρ) = -i (H ρ - ρ H†) + Σ_c C_c ρ C_c†``
(H = H_eff), written with two stacked matrices (:func:`stack`) as two products::

    X = W1 ρ,  W1 = [H; C_1; …; C_K]        ((K+1)n × n: X = [Hρ; C_1ρ; …])
    L(ρ) = -i X_0 + Z W2,  Z = [ρ | X_1 | … | X_K],  W2 = [i H†; C_1†; …; C_K†]

(two kernels per evaluation instead of 2 + 2K small ones). It is linear in Y; for the real inner
product ``Re Tr(A† B)`` of the real-split state, with ``K' = P_t* ∘ K`` and ``ρ = P_t* ∘ Y``::

    Z̄ = K' W2†,   X̄ = [i K'; Z̄_1; …; Z̄_K],   fᵀ(K) = P_t ∘ (W1† X̄ + Z̄_0)   (the adjoint Lindbladian)
    ∂Re⟨K, f⟩/∂W1 ↔ X̄ ρ†,   ∂Re⟨K, f⟩/∂W2 ↔ Z† K'

(JAX's cotangent of a complex parameter is the complex conjugate). :func:`step_vjp` walks the
stages of one step backwards with these formulas in complex arithmetic (two products per stage
for the recomputed stage, two for its transpose) and sums the parameter terms of all stages of
the step in two stacked products, where ``jax.vjp`` of the real-split step issues a dozen small
kernels per stage. It is the ``step_vjp`` of :func:`nephlab.quantum._rk_adjoint.solve`;
``tests/test_quantum_grad.py`` checks it against ``jax.vjp`` of the same step.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from . import _ops
from ._rk import Tableau, _lincomb


def _dag(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def stack(H, C):
    """``{"W1": [H; C_1; …], "W2": [iH†; C_1†; …]}`` ((K+1)n × n each) from H (n, n), C (K, n, n).

    Example:
        >>> w = stack(jnp.eye(2), jnp.zeros((1, 2, 2)))
        >>> w["W1"].shape, w["W2"].shape
        ((4, 2), (4, 2))
    """
    return {"W1": jnp.concatenate([H[None], C]).reshape(-1, H.shape[-1]),
            "W2": jnp.concatenate([1j * _dag(H)[None], _dag(C)]).reshape(-1, H.shape[-1])}


def lindblad(p, rho):
    """``(L(ρ), Z)`` from the stacked matrices ``p`` of :func:`stack`; ``Z = [ρ | C_1ρ | …]`` (n, (K+1)n)."""
    n = rho.shape[-1]
    X = p["W1"] @ rho
    Z = jnp.concatenate([rho[None], X[n:].reshape(-1, n, n)]).transpose(1, 0, 2).reshape(n, -1)
    return -1j * X[:n] + Z @ p["W2"], Z


def _lindblad_adjoint(p, k):
    """``(L†(K), X̄)``, X̄ = [iK; K C_1; …] ((K+1)n, n) (module docstring)."""
    n = k.shape[-1]
    Zb = k @ _dag(p["W2"])  # (n, (K+1)n): [-iKH | KC_1 | …]
    Xb = jnp.concatenate([1j * k[None], Zb[:, n:].reshape(n, -1, n).transpose(1, 0, 2)]).reshape(-1, n)
    return _dag(p["W1"]) @ Xb + Zb[:, :n], Xb


def _step_vjp(tb: Tableau, phases: Callable | None, fsal: bool, p, q, t, h, y, ynew_bar, kbar):
    n_st = 7 if fsal else 6
    ts = t + h * jnp.asarray(tb.c[:n_st])
    P = None if phases is None else phases(q, ts)  # (n_st, n, n)

    def inward(i, x):  # P* ∘ x
        return x if P is None else jnp.conj(P[i]) * x

    def outward(i, x):  # P ∘ x
        return x if P is None else P[i] * x

    # the stages again (complex), keeping ρ_i = P_i* ∘ Y_i and Z_i; Y_6 = y_new is the FSAL stage's argument
    y0 = _ops.merge(y)
    ks, rhos, Zs = [], [], []
    for i in range(n_st):
        rhos.append(inward(i, y0 if i == 0 else y0 + h * _lincomb(tb.a[i - 1], ks)))
        if i < n_st - 1:  # k_i enters a later stage
            k, z = lindblad(p, rhos[i])
            ks.append(outward(i, k))
            Zs.append(z)
    n = y0.shape[-1]
    X_last = p["W1"][n:] @ rhos[-1]  # Z of the last stage, which is not evaluated forward
    Zs.append(jnp.concatenate([rhos[-1][None], X_last.reshape(-1, n, n)]).transpose(1, 0, 2).reshape(n, -1))
    # backwards through the stages
    kb = [_ops.merge(kbar[i]) for i in range(n_st)]
    Kp, Xb = [None] * n_st, [None] * n_st
    yb6 = _ops.merge(ynew_bar)
    if fsal:
        Kp[6] = inward(6, kb[6])
        lt, Xb[6] = _lindblad_adjoint(p, Kp[6])
        yb6 = yb6 + outward(6, lt)
    ybar = yb6
    kb = [kb[j] + (h * tb.a[5][j]) * yb6 for j in range(6)]
    for i in range(5, -1, -1):
        Kp[i] = inward(i, kb[i])
        lt, Xb[i] = _lindblad_adjoint(p, Kp[i])
        yb = outward(i, lt)
        ybar = ybar + yb
        for j in range(i):
            kb[j] = kb[j] + (h * tb.a[i - 1][j]) * yb
    # parameters: Σ_i X̄_i ρ_i† and Σ_i Z_i† K'_i, one product each over the stacked stages
    Xcat = jnp.concatenate(Xb, axis=1)  # ((K+1)n, n_st n)
    Rcat = jnp.concatenate(rhos, axis=1)  # (n, n_st n)
    Zcat = jnp.concatenate(Zs, axis=0)  # (n_st n, (K+1)n)
    Kcat = jnp.concatenate(Kp, axis=0)  # (n_st n, n)
    G1 = Xcat @ _dag(Rcat)
    G2 = _dag(Zcat) @ Kcat
    return {"W1": jnp.conj(G1), "W2": jnp.conj(G2)}, _ops.split(ybar)


def step_vjp(tb: Tableau, phases: Callable | None) -> Callable:
    """The ``step_vjp`` of :func:`nephlab.quantum._rk_adjoint.solve` for the stacked ``p`` of
    :func:`stack` and the frame phases ``phases(q, ts) -> P`` (len(ts), n, n) (None: no frame)."""

    def vjp(p, q, t, h, y, ynew_bar, kbar):
        if kbar is None:
            return _step_vjp(tb, phases, False, p, q, t, h, y, ynew_bar, [jnp.zeros_like(y)] * 6)
        return _step_vjp(tb, phases, True, p, q, t, h, y, ynew_bar, kbar)

    return vjp
