"""Hand-written transpose of one Runge–Kutta step of a time-independent master equation.

The right-hand side of :mod:`nephlab.quantum._autodiff` for a constant Liouvillian is, in the
interaction frame of a diagonal D (ρ̃ = P_t ∘ ρ, ``P_t[i, j] = exp(i (D_i - D_j)(t - t0))``; no
frame: P = 1),

    f(t, Y) = P_t ∘ L(P_t* ∘ Y),   L(ρ) = -i (H ρ - ρ H†) + Σ_c C_c ρ C_c†,   H = H_eff.

It is linear in Y, so its transpose is the adjoint Lindbladian in the same frame,
``fᵀ(K) = P_t ∘ L†(P_t* ∘ K)`` with ``L†(K) = i (H† K - K H) + Σ_c C_c† K C_c`` (for the real
inner product ``Re Tr(A† B)`` of the real-split state); and with ``K' = P_t* ∘ K`` and
``ρ = P_t* ∘ Y`` the parameters get

    ∂ Re⟨K, f⟩ / ∂H  ↔  G_H = i (K' ρ† + K'† ρ),     ∂ Re⟨K, f⟩ / ∂C_c  ↔  G_C = K' C_c ρ† + K'† C_c ρ

(JAX's cotangent of a complex parameter is the complex conjugate of G). :func:`step_vjp` walks
the stages of one step backwards with these formulas in complex arithmetic, and sums the
parameter terms of all stages of the step in four stacked products (reusing the products
``C_c ρ`` and ``K' C_c`` of the stages themselves), where ``jax.vjp`` of the
real-split step issues a dozen small kernels per stage. It is the ``step_vjp`` of
:func:`nephlab.quantum._rk_adjoint.solve`; ``tests/test_quantum_grad.py`` checks it against
``jax.vjp`` of the same step.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from . import _ops
from ._rk import Tableau, _lincomb


def _dag(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def _lindblad(H, C, rho):
    """``(L(ρ), C ρ)``; the products ``C_c ρ`` (K, n, n) are reused for the gradient of C."""
    CR = C @ rho[None]
    return -1j * (H @ rho - rho @ _dag(H)) + jnp.sum(CR @ _dag(C), axis=0), CR


def _lindblad_adjoint(H, C, k):
    """``(L†(K), K C)``; the products ``K C_c`` (K, n, n) are reused for the gradient of C."""
    KC = k[None] @ C
    return 1j * (_dag(H) @ k - k @ H) + jnp.sum(_dag(C) @ KC, axis=0), KC


def _step_vjp(tb: Tableau, phases: Callable | None, fsal: bool, p, q, t, h, y, ynew_bar, kbar):
    H, C = p["Heff"], p["C"]
    n_st = 7 if fsal else 6
    ts = t + h * jnp.asarray(tb.c[:n_st])
    P = None if phases is None else phases(q, ts)  # (n_st, n, n)

    def inward(i, x):  # P* ∘ x
        return x if P is None else jnp.conj(P[i]) * x

    def outward(i, x):  # P ∘ x
        return x if P is None else P[i] * x

    # the stages again (complex), keeping ρ_i = P_i* ∘ Y_i; Y_6 = y_new is the FSAL stage's argument
    y0 = _ops.merge(y)
    ks, rhos, CR = [], [], []
    for i in range(n_st):
        rhos.append(inward(i, y0 if i == 0 else y0 + h * _lincomb(tb.a[i - 1], ks)))
        if i < n_st - 1:  # k_i enters a later stage
            k, cr = _lindblad(H, C, rhos[i])
            ks.append(outward(i, k))
            CR.append(cr)
    CR.append(C @ rhos[-1][None])
    # backwards through the stages
    kb = [_ops.merge(kbar[i]) for i in range(n_st)]
    Kp, KC = [None] * n_st, [None] * n_st
    yb6 = _ops.merge(ynew_bar)
    if fsal:
        Kp[6] = inward(6, kb[6])
        lt, KC[6] = _lindblad_adjoint(H, C, Kp[6])
        yb6 = yb6 + outward(6, lt)
    ybar = yb6
    kb = [kb[j] + (h * tb.a[5][j]) * yb6 for j in range(6)]
    for i in range(5, -1, -1):
        Kp[i] = inward(i, kb[i])
        lt, KC[i] = _lindblad_adjoint(H, C, Kp[i])
        yb = outward(i, lt)
        ybar = ybar + yb
        for j in range(i):
            kb[j] = kb[j] + (h * tb.a[i - 1][j]) * yb
    Ks = jnp.stack(Kp)
    R = jnp.stack(rhos)
    Rd = jnp.conj(R)
    Ksd = jnp.conj(Ks)
    G_H = 1j * (jnp.einsum("sij,skj->ik", Ks, Rd) + jnp.einsum("sji,sjk->ik", Ksd, R))
    G_C = jnp.einsum("scij,skj->cik", jnp.stack(KC), Rd) + jnp.einsum("sji,scjk->cik", Ksd, jnp.stack(CR))
    return {"Heff": jnp.conj(G_H), "C": jnp.conj(G_C)}, _ops.split(ybar)


def step_vjp(tb: Tableau, phases: Callable | None) -> Callable:
    """The ``step_vjp`` of :func:`nephlab.quantum._rk_adjoint.solve` for ``p = {"Heff", "C"}``
    (``Heff`` (n, n), ``C`` (K, n, n) complex) and the frame phases ``phases(q, ts) -> P`` (len(ts), n, n)
    (None: no frame)."""

    def vjp(p, q, t, h, y, ynew_bar, kbar):
        if kbar is None:
            return _step_vjp(tb, phases, False, p, q, t, h, y, ynew_bar, [jnp.zeros_like(y)] * 6)
        return _step_vjp(tb, phases, True, p, q, t, h, y, ynew_bar, kbar)

    return vjp
