"""Superoperators and the Lindblad generator, as dense matrices or applied directly to matrices.

Vectorisation convention: **row-major** (C order),

    vec(ρ) = ρ.reshape(..., n*n),      so      vec(A ρ B) = (A ⊗ Bᵀ) vec(ρ).

This differs from QuTiP, which stacks columns (``vec(AρB) = (Bᵀ ⊗ A) vec(ρ)``); the two
superoperator matrices are related by the permutation that transposes ρ, and they act identically
on operators. Compare them by applying both to the same ρ, never entry by entry.

The Lindblad generator (units: energy = rate, ħ = 1) is

    L(ρ) = -i [H, ρ] + Σ_k ( L_k ρ L_k† - ½ {L_k† L_k, ρ} ).

Leading axes are batch axes: ``H`` (..., n, n) and every collapse operator (..., n, n) broadcast
against each other (and against ``rho`` in :func:`lindblad_rhs`). All results are complex128
``jax.Array`` objects, except that QuTiP in gives QuTiP out: when an operator argument is a
``Qobj``, operators come back as ``Qobj`` with its dims, and superoperators as QuTiP ``super``
``Qobj`` in QuTiP's own (column-stacking) convention, equal to what QuTiP's function of the same
name returns.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._validate import broadcast_batch
from ._convert import as_operator, check_dims, qobj_dims, to_jax, to_qobj

__all__ = [
    "dissipator_apply",
    "lindblad_dissipator",
    "lindblad_rhs",
    "liouvillian",
    "spost",
    "spre",
    "sprepost",
]


# --------------------------------------------------------------------------------------------
# validation helpers (shared with steadystate.py and thermo.py)
# --------------------------------------------------------------------------------------------


def _as_c_ops(c_ops: Any, n: int | None, name: str = "c_ops", ref: str = "H") -> list[np.ndarray]:
    """Validate a list of collapse operators; returns complex128 NumPy arrays (..., n, n)."""
    if c_ops is None:
        return []
    if not isinstance(c_ops, (list, tuple)):
        raise TypeError(
            f"{name} must be a list (or tuple) of collapse operators of shape (..., n, n), got "
            f"{type(c_ops).__name__}; wrap a single operator L as [L]"
        )
    out = []
    for k, op in enumerate(c_ops):
        arr = as_operator(op, f"{name}[{k}]")
        if n is not None:
            check_dims(arr, n, f"{name}[{k}]", ref)
        out.append(arr)
    return out


def _stack_system(H: Any, c_ops: Any, *, hermitian: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate (H, c_ops) and return H (B..., n, n) and C (B..., K, n, n) broadcast together."""
    Hn = as_operator(H, "H", hermitian=hermitian, kind="Hamiltonian")
    n = Hn.shape[-1]
    cs = _as_c_ops(c_ops, n)
    bshape = broadcast_batch([("H", Hn.shape[:-2])] + [(f"c_ops[{k}]", c.shape[:-2]) for k, c in enumerate(cs)])
    Hb = np.broadcast_to(Hn, bshape + (n, n))
    if cs:
        C = np.stack([np.broadcast_to(c, bshape + (n, n)) for c in cs], axis=-3)
    else:
        C = np.zeros(bshape + (0, n, n), dtype=np.complex128)
    return Hb, C


def _dag(A: jnp.ndarray) -> jnp.ndarray:
    return jnp.conj(jnp.swapaxes(A, -1, -2))


def _kron(A: jnp.ndarray, B: jnp.ndarray) -> jnp.ndarray:
    """Batched Kronecker product (..., n, n) x (..., m, m) -> (..., n*m, n*m)."""
    n, m = A.shape[-1], B.shape[-1]
    out = jnp.einsum("...ij,...kl->...ikjl", A, B)
    return out.reshape(out.shape[:-4] + (n * m, n * m))


# --------------------------------------------------------------------------------------------
# traceable cores (no validation; used inside jit/vmap by the solvers)
# --------------------------------------------------------------------------------------------


def _liouvillian_core(H: jnp.ndarray, C: jnp.ndarray) -> jnp.ndarray:
    """Dense row-major Liouvillian from H (..., n, n) and stacked C (..., K, n, n)."""
    n = H.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(n, dtype=H.dtype), H.shape)
    CdC = jnp.sum(_dag(C) @ C, axis=-3)
    Heff = H - 0.5j * CdC  # -i(Heff ρ - ρ Heff†) = -i[H, ρ] - ½{ΣL†L, ρ}
    L = -1j * (_kron(Heff, eye) - _kron(eye, jnp.swapaxes(_dag(Heff), -1, -2)))
    if C.shape[-3]:
        L = L + jnp.sum(_kron(C, jnp.conj(C)), axis=-3)  # L ⊗ (L†)ᵀ = L ⊗ L*
    return L


def _heff_core(H: jnp.ndarray, C: jnp.ndarray) -> jnp.ndarray:
    """Non-Hermitian effective Hamiltonian ``H - ½i Σ_k C_k†C_k``; H (..., n, n), C (..., K, n, n)."""
    return H - 0.5j * jnp.sum(_dag(C) @ C, axis=-3)


def _rhs_heff_core(Heff: jnp.ndarray, C: jnp.ndarray, rho: jnp.ndarray) -> jnp.ndarray:
    """:func:`_rhs_core` from a precomputed ``Heff = _heff_core(H, C)`` (one product fewer per call)."""
    out = -1j * (Heff @ rho - rho @ _dag(Heff))
    if C.shape[-3]:
        out = out + jnp.sum(C @ rho[..., None, :, :] @ _dag(C), axis=-3)
    return out


def _rhs_core(H: jnp.ndarray, C: jnp.ndarray, rho: jnp.ndarray) -> jnp.ndarray:
    """Lindblad right-hand side on matrices; H (..., n, n), C (..., K, n, n), rho (..., n, n)."""
    return _rhs_heff_core(_heff_core(H, C), C, rho)


def _dissipator_core(C: jnp.ndarray, rho: jnp.ndarray) -> jnp.ndarray:
    """Σ_k D[L_k](ρ) with C (..., K, n, n)."""
    if not C.shape[-3]:
        return jnp.zeros(jnp.broadcast_shapes(C.shape[:-3] + C.shape[-2:], rho.shape), rho.dtype)
    CdC = jnp.sum(_dag(C) @ C, axis=-3)
    jump = jnp.sum(C @ rho[..., None, :, :] @ _dag(C), axis=-3)
    return jump - 0.5 * (CdC @ rho + rho @ CdC)


_liouvillian_jit = jax.jit(_liouvillian_core)
_rhs_jit = jax.jit(_rhs_core)
_dissipator_jit = jax.jit(_dissipator_core)
_kron_jit = jax.jit(_kron)


def _qutip_out(out: jnp.ndarray, named: list, superop: bool) -> Any:
    """``out`` as QuTiP ``Qobj`` when an input in ``named`` was one, else unchanged."""
    dims = qobj_dims(named)
    if dims is None:
        return out
    if not superop:
        return to_qobj(out, dims)
    n = int(round(out.shape[-1] ** 0.5))
    # row-major S[(i,j),(k,l)] -> column-stacking S[(j,i),(l,k)]: the same map on operators
    col = np.asarray(out).reshape(out.shape[:-2] + (n, n, n, n)).swapaxes(-4, -3).swapaxes(-2, -1)
    return to_qobj(col.reshape(out.shape), [dims, dims])


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _check_pair(A: np.ndarray, B: np.ndarray, na: str, nb: str) -> None:
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(f"{na} has shape {A.shape} and {nb} has shape {B.shape}; their dimensions n must match")
    broadcast_batch([(na, A.shape[:-2]), (nb, B.shape[:-2])])


def spre(A: Any) -> jnp.ndarray:
    """Superoperator of left multiplication, ``ρ ↦ A ρ``, in the row-major convention.

    Args:
        A: operator (..., n, n) (NumPy/JAX array or ``Qobj``); leading axes are batch axes.

    Returns:
        (..., n², n²) complex128 array ``A ⊗ I`` with ``spre(A) @ vec(ρ) == vec(A @ ρ)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmax
        >>> rho = jnp.array([[0.7, 0.1], [0.1, 0.3]], complex)
        >>> bool(jnp.allclose(spre(sigmax()) @ rho.reshape(4), (sigmax() @ rho).reshape(4)))
        True
    """
    a = to_jax(as_operator(A, "A"))
    out = _kron_jit(a, jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape))
    return _qutip_out(out, [("A", A)], superop=True)


def spost(A: Any) -> jnp.ndarray:
    """Superoperator of right multiplication, ``ρ ↦ ρ A``, in the row-major convention.

    Args:
        A: operator (..., n, n); leading axes are batch axes.

    Returns:
        (..., n², n²) complex128 array ``I ⊗ Aᵀ`` with ``spost(A) @ vec(ρ) == vec(ρ @ A)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmap
        >>> rho = jnp.array([[0.7, 0.1], [0.1, 0.3]], complex)
        >>> bool(jnp.allclose(spost(sigmap()) @ rho.reshape(4), (rho @ sigmap()).reshape(4)))
        True
    """
    a = to_jax(as_operator(A, "A"))
    out = _kron_jit(jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape), jnp.swapaxes(a, -1, -2))
    return _qutip_out(out, [("A", A)], superop=True)


def sprepost(A: Any, B: Any) -> jnp.ndarray:
    """Superoperator ``ρ ↦ A ρ B`` in the row-major convention.

    Args:
        A, B: operators (..., n, n) of equal dimension; batch axes broadcast.

    Returns:
        (..., n², n²) complex128 array ``A ⊗ Bᵀ`` with ``sprepost(A, B) @ vec(ρ) == vec(A ρ B)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmam, sigmap
        >>> rho = jnp.array([[0.7, 0.1], [0.1, 0.3]], complex)
        >>> S = sprepost(sigmam(), sigmap())
        >>> bool(jnp.allclose(S @ rho.reshape(4), (sigmam() @ rho @ sigmap()).reshape(4)))
        True
    """
    a = as_operator(A, "A")
    b = as_operator(B, "B")
    _check_pair(a, b, "A", "B")
    out = _kron_jit(to_jax(a), jnp.swapaxes(to_jax(b), -1, -2))
    return _qutip_out(out, [("A", A), ("B", B)], superop=True)


def lindblad_dissipator(L: Any) -> jnp.ndarray:
    """Superoperator of the Lindblad dissipator ``D[L](ρ) = L ρ L† - ½ {L† L, ρ}``.

    Args:
        L: collapse operator (..., n, n) in units of sqrt(rate) (ħ = 1); batch axes allowed.

    Returns:
        (..., n², n²) complex128 array (row-major convention, see the module docstring).

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmam
        >>> D = lindblad_dissipator(sigmam())
        >>> rho = jnp.array([[1, 0], [0, 0]], complex)      # excited state (QuTiP convention)
        >>> (D @ rho.reshape(4)).reshape(2, 2).real.diagonal().tolist()
        [-1.0, 1.0]
    """
    c = to_jax(as_operator(L, "L"))
    return _qutip_out(_liouvillian_jit(jnp.zeros_like(c), c[..., None, :, :]), [("L", L)], superop=True)


def liouvillian(H: Any, c_ops: Sequence[Any] | None = None) -> jnp.ndarray:
    """Dense Lindblad generator ``L`` with ``d vec(ρ)/dt = L vec(ρ)`` (row-major convention).

    ``L(ρ) = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ})``.

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        c_ops: list of collapse operators, each (..., n, n), units sqrt(rate); ``None`` or ``[]``
            for unitary dynamics. Batch axes of ``H`` and every ``c_ops[k]`` broadcast.

    Returns:
        (..., n², n²) complex128 array. Memory is 16 n⁴ bytes per batch element.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmaz, sigmam
        >>> L = liouvillian(0.5 * sigmaz(), [sigmam()])
        >>> L.shape
        (4, 4)
        >>> ground = jnp.array([[0, 0], [0, 1]], complex).reshape(4)
        >>> float(jnp.abs(L @ ground).max())
        0.0
    """
    Hb, C = _stack_system(H, c_ops)
    return _qutip_out(_liouvillian_jit(to_jax(Hb), to_jax(C)), [("H", H), ("c_ops", c_ops)], superop=True)


def dissipator_apply(L: Any, rho: Any) -> jnp.ndarray:
    """Apply ``D[L](ρ) = L ρ L† - ½ {L† L, ρ}`` directly to matrices (no superoperator).

    Args:
        L: collapse operator (..., n, n), units sqrt(rate); or a list of them, whose dissipators
            are summed.
        rho: operator (..., n, n) (need not be a density matrix); batch axes broadcast with ``L``.

    Returns:
        (..., n, n) complex128 array, units rate × [rho].

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmam
        >>> rho = jnp.array([[1, 0], [0, 0]], complex)
        >>> dissipator_apply(sigmam(), rho).real.diagonal().tolist()
        [-1.0, 1.0]
    """
    r = as_operator(rho, "rho")
    n = r.shape[-1]
    if isinstance(L, (list, tuple)):
        cs = _as_c_ops(L, n, name="L", ref="rho")
    else:
        c = as_operator(L, "L")
        check_dims(c, n, "L", "rho")
        cs = [c]
    named = [("L", L), ("rho", rho)]
    if not cs:
        return _qutip_out(to_jax(np.zeros(r.shape, np.complex128)), named, superop=False)
    bshape = broadcast_batch([(f"L[{k}]", c.shape[:-2]) for k, c in enumerate(cs)])
    C = np.stack([np.broadcast_to(c, bshape + (n, n)) for c in cs], axis=-3)
    broadcast_batch([("L", bshape), ("rho", r.shape[:-2])])
    return _qutip_out(_dissipator_jit(to_jax(C), to_jax(r)), named, superop=False)


def lindblad_rhs(H: Any, c_ops: Sequence[Any] | None, rho: Any) -> jnp.ndarray:
    """Lindblad right-hand side ``dρ/dt = -i[H, ρ] + Σ_k D[L_k](ρ)`` applied to matrices.

    Costs O(K n³) per call and no n⁴ memory (matrix-free).

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        c_ops: list of collapse operators (..., n, n), units sqrt(rate), or ``None``.
        rho: operator (..., n, n); batch axes of ``H``, ``c_ops`` and ``rho`` broadcast.

    Returns:
        (..., n, n) complex128 array ``dρ/dt`` (units rate × [rho]).

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmaz, sigmax
        >>> rho = jnp.array([[1, 0], [0, 0]], complex)
        >>> lindblad_rhs(sigmax(), None, rho)[0, 1].tolist()
        1j
    """
    Hb, C = _stack_system(H, c_ops)
    r = as_operator(rho, "rho")
    check_dims(r, Hb.shape[-1], "rho", "H")
    broadcast_batch([("H and c_ops", Hb.shape[:-2]), ("rho", r.shape[:-2])])
    return _qutip_out(_rhs_jit(to_jax(Hb), to_jax(C), to_jax(r)), [("H", H), ("c_ops", c_ops), ("rho", rho)], superop=False)
