"""nephlab's adaptive Runge–Kutta loop (``_rk.adaptive_solve``, compiled as mesolve and mcsolve compile it)
against a plain NumPy transcription of the same algorithm: the same step and acceptance counts, and
the same saved states up to rounding (1e-13 of the largest entry), for every tableau.

The reference is written from the algorithm's description (``_rk``'s module docstring: initial step
of Hairer, Nørsett & Wanner, PI controller, RMS error norm, dense output at saved times, DOP853's
combined estimator and the interpolants' extra stages), one trial step at a time with no JAX, so a
rewrite of the compiled loop (its norm, its saving, its commit) that changes what it computes fails
here. The field is elementwise (the same floating-point operations in NumPy and XLA) and has a sharp
pulse, so that the controller rejects steps; the saved times are both sparse (11) and dense (57,
several per step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.quantum import _rk
from nephlab.quantum._jit import SOLVE_OPTIONS, TunedJit

jax.config.update("jax_enable_x64", True)

RTOL, ATOL = 1e-7, 1e-9
_rng = np.random.default_rng(7)
W = _rng.uniform(0.5, 2.0, size=(3, 3))
V = _rng.normal(size=(2, 3, 3))
Y0 = _rng.normal(size=(2, 3, 3))


def _field(xp):
    """``y' = rotation(W) y - 0.2 y + pulse(t) V`` on a real-split (2, 3, 3) state; the pulse, a
    squared Lorentzian of width ~0.05 at t = 2.3, makes the controller reject steps. Only + - × ÷
    (correctly rounded in NumPy and XLA alike: no exp, whose implementations differ by an ulp)."""
    def f(t, y):
        u = (t - 2.3) / 0.05
        pulse = 40.0 / ((1.0 + u * u) * (1.0 + u * u))
        return xp.stack([W * y[1] - 0.2 * y[0], -W * y[0] - 0.2 * y[1]]) + pulse * V
    return f


def _reference(tb: _rk.Tableau, tlist: np.ndarray):
    """The loop of ``_rk.adaptive_start`` / ``adaptive_advance`` in NumPy: ``(saved, steps, accepted)``."""
    f = _field(np)

    def norm(e, y, yn):
        return np.sqrt(np.mean((e / (ATOL + RTOL * np.maximum(np.abs(y), np.abs(yn)))) ** 2))

    def comb(ws, ks):
        out = None
        for w, k in zip(ws, ks):
            if w != 0.0:
                out = w * k if out is None else out + w * k
        return out

    T, t_end = len(tlist), tlist[-1]
    t, y = tlist[0], Y0
    k1 = f(t, y)
    d0, d1 = norm(y, y, y), norm(k1, y, y)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    d2 = norm(f(t + h0, y + h0 * k1) - k1, y, y) / h0
    dm = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if dm <= 1e-15 else (0.01 / dm) ** (1.0 / tb.order)
    h = min(100 * h0, h1, t_end - t)
    alpha, beta = _rk.pi_factor_exponents(tb.order, tb.pi_beta)
    en_prev, saved, steps, accepted = 1.0, [y], 0, 0
    while len(saved) < T:
        h = min(h, t_end - t)
        ks = [k1]
        for i, row in enumerate(tb.a, start=1):
            yi = y + h * comb(row, ks)
            ks.append(f(t + tb.c[i] * h, yi))
        y_new = yi  # FSAL
        e5 = h * comb(tb.e, ks)
        if tb.e3 is None:
            en = norm(e5, y, y_new)
        else:  # DOP853's combined estimator
            n5, n3 = norm(e5, y, y_new) ** 2, norm(h * comb(tb.e3, ks), y, y_new) ** 2
            den = np.sqrt(n5 + 0.01 * n3)
            en = n5 / den if den > 0 else 0.0
        en_s = max(en, 1e-10)
        steps += 1
        if en <= 1.0:
            fac = min(max(0.9 * en_s ** (-alpha) * en_prev ** beta, 0.2), 10.0)
            t_new = t_end if t + h >= t_end else t + h
            if tb.a_extra and tlist[len(saved)] < t_new:
                for row, c in zip(tb.a_extra, tb.c_extra):
                    ks.append(f(t + c * h, y + h * comb(row, ks)))
            while len(saved) < T and tlist[len(saved)] <= t_new:
                ts = tlist[len(saved)]
                saved.append(y_new if ts >= t_new else y + h * comb(tb.dense((ts - t) / h, tb.b), ks))
            t, y, k1 = t_new, y_new, ks[len(tb.a)]
            en_prev = max(en, 1e-4)
            accepted += 1
        else:
            fac = min(max(0.9 * en_s ** (-1.0 / tb.order), 0.2), 1.0)
        h = h * fac
    return np.stack(saved), steps, accepted


@pytest.mark.parametrize("compiled", ["solve options", "defaults"])
@pytest.mark.parametrize("T", [11, 57])
@pytest.mark.parametrize("name", ["tsit5", "dopri5", "dop853", "vern7"])
def test_loop_equals_reference(name, T, compiled):
    """Both forms of the error norm: ``_jit.TunedJit`` traces with ``classic_emitter()`` (the
    two-output reduction), a plain ``jax.jit`` without (the plain mean)."""
    tb = getattr(_rk, name + "_tableau")()
    tlist = np.linspace(0.0, 4.0, T)
    ref, steps, accepted = _reference(tb, tlist)
    assert steps > accepted  # the pulse makes the controller reject steps

    def solve(y0, tl):
        return _rk.adaptive_solve(_field(jnp), y0, tl, lambda t, y: y, tableau=tb, rtol=RTOL, atol=ATOL,
                                  max_steps=10_000)

    jitted = TunedJit(solve, SOLVE_OPTIONS) if compiled == "solve options" else jax.jit(solve)
    saved, y1, stats = jitted(jnp.asarray(Y0), jnp.asarray(tlist))
    assert int(stats["steps"]) == steps and int(stats["accepted"]) == accepted
    assert bool(stats["success"])
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(np.asarray(saved) - ref)) <= 1e-13 * scale
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(saved)[-1])
