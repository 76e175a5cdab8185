"""TASEP ring: the current SCGF against the Derrida–Lebowitz Bethe-ansatz series.

The series (Derrida & Lebowitz, PRL 80, 209 (1998)) is an independent exact result: it is summed
to round-off, and the largest eigenvalue of the dense tilted generator is accurate to ~1e-14, so
the tolerance 1e-10 is loose by four orders of magnitude yet catches any error in a coefficient,
in the sign of s, in the current's normalisation (total hops vs per bond) or in the time unit.
"""

import numpy as np
import pytest

from nephlab.largedev.models import tasep_ring, tasep_scgf_exact

SIZES = [(3, 1), (5, 2), (6, 3), (8, 3), (9, 4)]


def _s_grid(L, n, m=7):
    # inside the interval reached by the series (it shrinks ~ L^{-3/2}); read it from the error
    with pytest.raises(ValueError) as e:
        tasep_scgf_exact(L, n, 1e3)
    lo, hi = (float(v) for v in str(e.value).split("[")[1].split("]")[0].split(","))
    return np.linspace(0.9 * lo, 0.9 * hi, m)


@pytest.mark.parametrize("L,n", SIZES)
def test_series_matches_dense_tilted_generator(L, n):
    proc, g = tasep_ring(L, n)
    s = _s_grid(L, n)
    exact = tasep_scgf_exact(L, n, s)
    dense = proc.scgf(s, "current", increments=g)
    np.testing.assert_allclose(exact, dense, rtol=0, atol=1e-10)
    assert np.all(np.diff(exact) < 0)  # theta decreasing: theta'(s) = -<current> < 0


@pytest.mark.parametrize("L,n", SIZES)
def test_first_two_cumulants(L, n):
    # -theta'(0) = n (L-n)/(L-1) (total current, hop rate 1); theta''(0) = scaled variance
    h = 1e-4
    t = tasep_scgf_exact(L, n, np.array([-h, 0.0, h]))
    mean = -(t[2] - t[0]) / (2 * h)
    assert abs(mean - n * (L - n) / (L - 1)) < 1e-7          # O(h^2) difference error
    proc, g = tasep_ring(L, n)
    var = proc.scgf_second_derivative(0.0, "current", increments=g)
    assert abs((t[2] - 2 * t[1] + t[0]) / h**2 - var) < 1e-5  # round-off/h^2 ~ 1e-8, O(h^2)


def test_rate_scales_time():
    s = np.array([-0.02, 0.05])
    np.testing.assert_allclose(tasep_scgf_exact(6, 2, s, rate=2.5), 2.5 * tasep_scgf_exact(6, 2, s),
                               rtol=1e-13)
    proc, g = tasep_ring(6, 2, rate=2.5)
    np.testing.assert_allclose(tasep_scgf_exact(6, 2, s, rate=2.5),
                               proc.scgf(s, "current", increments=g), atol=1e-10)


def test_shape_and_zero():
    assert tasep_scgf_exact(5, 2, 0.0) == 0.0
    assert tasep_scgf_exact(5, 2, np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("kw,match", [
    (dict(L=5, n=5, s=0.0), "n must satisfy"),
    (dict(L=5, n=0, s=0.0), "n must be"),
    (dict(L=5, n=2, s=float("nan")), "s must be finite"),
    (dict(L=5, n=2, s=1.0), "outside the range"),
    (dict(L=5, n=2, s=0.0, rate=-1.0), "rate must be"),
])
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        tasep_scgf_exact(**kw)
