"""``nephlab.quantum.jax``: differentiable, JAX-native Lindblad solves.

Use it as ``from nephlab.quantum import jax as nqj`` (or ``import nephlab.quantum.jax as nqj``)
and call ``nqj.mesolve(H, rho0, tlist, c_ops, e_ops=..., args=..., method=..., gradient=...)``:
JAX arrays in, a :class:`MESolveResult` of JAX arrays out, and ``jax.grad``, ``jax.jacfwd``,
``jax.jit`` and ``jax.vmap`` pass through it with respect to parameters in ``H``, the rates in
``c_ops``, ``args`` and ``rho0``. With ``format="sparse"`` the operators stay fixed and sparse
(scipy.sparse, CSR/Dia ``Qobj``) and the gradient flows through ``args`` and ``rho0``. See
:func:`mesolve` for methods, gradient modes and formats.

Naming: this module is only a namespace; the code lives in ``nephlab.quantum._autodiff``, so that
no file that itself does ``import jax`` sits next to one named ``jax.py`` doing real work, and
``"jax"`` is deliberately *not* in ``nephlab.quantum.__all__``: ``from nephlab.quantum import *``
never shadows the real :mod:`jax` in a user's namespace. Inside nephlab every ``import jax`` is
absolute (Python 3), so it always means the real JAX.

Example:
    >>> from nephlab.quantum import jax as nqj
    >>> sorted(nqj.METHODS)
    ['dop853', 'dopri5', 'expm', 'rk4', 'tsit5', 'vern7']
"""

from ._autodiff import GRADIENTS, METHODS, MESolveResult, mesolve

__all__ = ["GRADIENTS", "METHODS", "MESolveResult", "mesolve"]
