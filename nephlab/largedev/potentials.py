"""Built-in model potentials, each defined once for NumPy and JAX.

Every potential is one formula evaluated in the array namespace of its inputs: NumPy arrays and
Python numbers give a NumPy result, JAX arrays (and tracers, inside ``jit``/``grad``/``vmap``) a
JAX result. So the same function serves the grid solvers of :mod:`nephlab.largedev.committor`
(NumPy) and the trajectory samplers of :mod:`nephlab.largedev.shooting` and friends (JAX); the
``*_jax`` names always return JAX arrays.

Energies are in the units of the original papers; lengths are dimensionless coordinates.

Example:
    >>> import jax
    >>> round(float(muller_brown(-0.558, 1.442)), 2)
    -146.7
    >>> g = jax.grad(lambda p: muller_brown(p[0], p[1]))(jax.numpy.array([0.0, 0.0]))
    >>> g.shape
    (2,)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import nephlab._config  # noqa: F401  (float64)

__all__ = ["muller_brown", "double_well_2d", "double_well_1d", "muller_brown_jax", "double_well_2d_jax",
           "double_well_1d_jax"]

# Müller & Brown, Theor. Chim. Acta 53, 75 (1979):
# V(x, y) = sum_i A_i exp(a_i (x - x0_i)^2 + b_i (x - x0_i)(y - y0_i) + c_i (y - y0_i)^2)
_MB_A = (-200.0, -100.0, -170.0, 15.0)
_MB_a = (-1.0, -1.0, -6.5, 0.7)
_MB_b = (0.0, 0.0, 11.0, 0.6)
_MB_c = (-10.0, -10.0, -6.5, 0.7)
_MB_X0 = (1.0, 0.0, -0.5, -1.0)
_MB_Y0 = (0.0, 0.5, 1.5, 1.0)


def _namespace(*coords: Any) -> tuple[Any, list[Any]]:
    """``(xp, coords as float arrays of xp)``: JAX if any coordinate is a JAX array, else NumPy."""
    xp = jnp if any(isinstance(c, jax.Array) for c in coords) else np
    return xp, [xp.asarray(c, dtype=float) for c in coords]


def _muller_brown(xp, x, y):
    return sum(_MB_A[i] * xp.exp(_MB_a[i] * (x - _MB_X0[i]) ** 2 + _MB_b[i] * (x - _MB_X0[i]) * (y - _MB_Y0[i])
                                 + _MB_c[i] * (y - _MB_Y0[i]) ** 2) for i in range(4))


def _double_well(x):
    return (x ** 2 - 1) ** 2


def muller_brown(x, y):
    """Müller–Brown potential with the standard parameters (Müller & Brown 1979).

    Args:
        x, y: broadcastable NumPy or JAX arrays or numbers (length).

    Returns:
        V(x, y) (energy), broadcast shape; a JAX array for JAX input (traceable), else NumPy.
        Minima (-0.558, 1.442) V = -146.70, (0.623, 0.028) V = -108.17, (-0.050, 0.467) V = -80.77;
        saddles (-0.822, 0.624) V = -40.66 and (0.212, 0.293) V = -72.25.

    Example:
        >>> round(float(muller_brown(-0.558, 1.442)), 1)
        -146.7
    """
    xp, (x, y) = _namespace(x, y)
    return _muller_brown(xp, x, y)


def double_well_2d(x, y):
    """Symmetric double well ``V = (x**2 - 1)**2 + y**2`` (energy); minima at (+-1, 0), barrier 1.

    NumPy or JAX in and out, as :func:`muller_brown`.

    Example:
        >>> float(double_well_2d(0.0, 0.0)), float(double_well_2d(1.0, 0.0))
        (1.0, 0.0)
    """
    _, (x, y) = _namespace(x, y)
    return _double_well(x) + y ** 2


def double_well_1d(x):
    """1D double well ``(x**2 - 1)**2`` (energy); minima at +-1, barrier 1 at 0. NumPy or JAX.

    Example:
        >>> float(double_well_1d(0.0)), float(double_well_1d(1.0))
        (1.0, 0.0)
    """
    _, (x,) = _namespace(x)
    return _double_well(x)


def muller_brown_jax(x, y):
    """:func:`muller_brown` evaluated in JAX whatever the input (returns a JAX array).

    Example:
        >>> round(float(muller_brown_jax(-0.558, 1.442)), 1)
        -146.7
    """
    return muller_brown(jnp.asarray(x, dtype=float), jnp.asarray(y, dtype=float))


def double_well_2d_jax(x, y):
    """:func:`double_well_2d` evaluated in JAX whatever the input.

    Example:
        >>> float(double_well_2d_jax(0.0, 0.0))
        1.0
    """
    return double_well_2d(jnp.asarray(x, dtype=float), jnp.asarray(y, dtype=float))


def double_well_1d_jax(x):
    """:func:`double_well_1d` evaluated in JAX whatever the input.

    Example:
        >>> float(double_well_1d_jax(0.0)), float(double_well_1d_jax(1.0))
        (1.0, 0.0)
    """
    return double_well_1d(jnp.asarray(x, dtype=float))
