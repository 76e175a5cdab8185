"""Sparse operators for large Hilbert spaces: structure helpers and the input side of mesolve.

Coupled systems outgrow dense storage quickly: M three-level cavities have D = 3^M states, and
a dense D×D operator costs 16 D² bytes (8.5 MB at D = 729, 1.6 GB at D = 10⁴) while a
Hamiltonian made of local and nearest-neighbour terms has only O(M D) nonzeros. The helpers here
build such operators as ``scipy.sparse`` CSR matrices from local pieces, never forming a dense
D×D matrix:

* :func:`qeye` -- identity of dimension ``d`` (or of a list of dims);
* :func:`tensor` -- Kronecker product of operators (arrays, scipy.sparse or QuTiP ``Qobj``),
  in QuTiP's order (the first factor is the most significant index);
* :func:`embed` -- a local operator ``op`` acting on ``site`` of a chain with ``dims``.

``mesolve`` keeps ``scipy.sparse`` matrices and QuTiP ``Qobj`` with CSR or Dia data sparse
(``format="sparse"``, chosen automatically from :data:`SPARSE_MIN_N` on): the right-hand side is then applied matrix-free at O(nnz · n) per
evaluation (:func:`nephlab.quantum._ops.sparse_lindblad`), with only the density matrix
itself stored densely. Time-dependent operators in QuTiP's list format with sparse terms
(``[H0, [H1, f1], ...]``, collapse operators ``[C, g]``) are kept sparse the same way
(:func:`sparse_operators` says which inputs qualify).

Example:
    >>> import numpy as np
    >>> a = np.diag(np.sqrt(np.arange(1, 3)), 1)      # annihilation operator, d = 3
    >>> a1 = embed(a, 1, [3, 3, 3])                     # acting on the middle site
    >>> a1.shape, a1.nnz
    ((27, 27), 18)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._convert import check_finite, is_qobj

__all__ = ["tensor", "qeye", "embed", "is_sparse", "as_sparse", "SPARSE_MIN_N"]

# Crossover of the automatic format choice (mesolve, constant operators, rk4/tsit5/dopri5),
# measured on the Kerr lattice of benchmarks/large.py (d = 3, the 2-core CPU of RESULTS.md,
# jax 0.10, warm calls): D = 27: sparse and banded "dia" about even (rk4 0.02-0.04 s vs
# 0.04 s, tsit5 0.04 s vs 0.07 s); D = 81: sparse 2x faster with rk4 (0.33 s vs 0.68 s) and
# 5x with tsit5 (0.11 s vs 0.61 s, the banded path also pays the interaction frame);
# D = 729: see RESULTS.md. Below this dimension sparse inputs are converted to the dense
# engine (cheap there), which also keeps expm/magnus4/kvaerno5 and time dependence available.
SPARSE_MIN_N = 64


def is_sparse(x: Any) -> bool:
    """True for a ``scipy.sparse`` matrix/array or a QuTiP ``Qobj`` whose data is CSR or Dia.

    Example:
        >>> import scipy.sparse as sp
        >>> is_sparse(sp.eye(3)), is_sparse(np.eye(3))
        (True, False)
    """
    if sp.issparse(x):
        return True
    return is_qobj(x) and type(getattr(x, "data", None)).__name__ in ("CSR", "Dia")


def as_sparse(x: Any, name: str = "op") -> sp.csr_matrix:
    """``x`` (array, scipy.sparse or ``Qobj``) as a complex128 CSR matrix, without a dense copy
    of sparse inputs. Raises TypeError/ValueError naming ``name``.

    Example:
        >>> as_sparse(np.diag([1.0, 2.0])).nnz
        2
    """
    if is_qobj(x):
        data = x.data
        if type(data).__name__ in ("CSR", "Dia"):
            m = sp.csr_matrix(data.as_scipy(), dtype=np.complex128, copy=True)
        else:
            m = sp.csr_matrix(np.asarray(x.full(), dtype=np.complex128))
    elif sp.issparse(x):
        m = sp.csr_matrix(x, dtype=np.complex128, copy=True)
    else:
        try:
            arr = np.asarray(x, dtype=np.complex128)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array, a scipy.sparse matrix or a Qobj, got {type(x).__name__} ({err})") from None
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a single (n, n) matrix, got shape {arr.shape}")
        m = sp.csr_matrix(arr)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (n, n), got shape {m.shape}")
    check_finite(m.data, f"{name} (its stored entries)")
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def qeye(dims: int | list[int]) -> sp.csr_matrix:
    """Sparse identity of dimension ``dims`` (an int) or ``prod(dims)`` (a list), complex128.

    Example:
        >>> qeye([2, 3]).shape
        (6, 6)
    """
    ds = [dims] if np.ndim(dims) == 0 else list(dims)
    for d in ds:
        if int(d) != d or d < 1:
            raise ValueError(f"dims must be positive integers, got {dims!r}")
    return sp.identity(int(np.prod(ds)), dtype=np.complex128, format="csr")


def tensor(*ops: Any) -> sp.csr_matrix:
    """Kronecker product ``ops[0] ⊗ ops[1] ⊗ ...`` as a CSR matrix (QuTiP's order), with
    ``nnz = prod(nnz_k)``; the operators may be arrays, scipy.sparse matrices or ``Qobj``s. A
    single list argument is accepted as in ``qutip.tensor([a, b])``.

    Example:
        >>> sz = np.diag([1.0, -1.0])
        >>> tensor(sz, qeye(2)).diagonal().real
        array([ 1.,  1., -1., -1.])
    """
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = tuple(ops[0])
    if not ops:
        raise ValueError("tensor needs at least one operator")
    out = as_sparse(ops[0], "ops[0]")
    for i, op in enumerate(ops[1:], start=1):
        out = sp.kron(out, as_sparse(op, f"ops[{i}]"), format="csr")
    return out


def embed(op: Any, site: int, dims: list[int]) -> sp.csr_matrix:
    """The local operator ``op`` (d_site × d_site) acting on ``site`` of a chain with ``dims``:
    ``1 ⊗ ... ⊗ op ⊗ ... ⊗ 1``, as CSR of dimension ``prod(dims)``.

    Example:
        >>> embed(np.diag([0.0, 1.0]), 0, [2, 2]).diagonal().real
        array([0., 0., 1., 1.])
    """
    dims = [int(d) for d in dims]
    if not isinstance(site, (int, np.integer)) or not 0 <= site < len(dims):
        raise ValueError(f"site must be an integer in [0, {len(dims) - 1}] for dims={dims}, got {site!r}")
    m = as_sparse(op, "op")
    if m.shape[0] != dims[site]:
        raise ValueError(f"op has shape {m.shape}, but site {site} has dimension {dims[site]} in dims={dims}")
    left, right = int(np.prod(dims[:site])), int(np.prod(dims[site + 1:]))
    return sp.kron(sp.kron(qeye(left), m), qeye(right), format="csr")


def _is_constant_operator(x: Any) -> bool:
    return sp.issparse(x) or is_qobj(x) or (isinstance(x, np.ndarray) and x.ndim == 2) or (
        type(x).__name__ in ("ArrayImpl", "Array") and getattr(x, "ndim", 0) == 2)


def _operator_list(x: Any) -> list | None:
    """The operators of one operator argument in a form the sparse format takes: ``[x]`` for a
    single constant operator, the operators of QuTiP's list format ``[O0, [O1, f1], ...]`` (or a
    single pair ``[O, f]``); None for anything else (a callable H, a QobjEvo, batches)."""
    if _is_constant_operator(x):
        return [x]
    if not isinstance(x, (list, tuple)) or not x:
        return None
    if len(x) == 2 and _is_constant_operator(x[0]) and not _is_constant_operator(x[1]) \
            and not isinstance(x[1], (list, tuple)):
        x = [x]  # a single pair [O, f], as QuTiP accepts it
    out = []
    for item in x:
        if isinstance(item, (list, tuple)) and len(item) == 2 and _is_constant_operator(item[0]):
            out.append(item[0])
        elif _is_constant_operator(item):
            out.append(item)
        else:
            return None
    return out


def sparse_operators(H: Any, c_list: list) -> tuple[list, bool] | None:
    """``([every operator of H and c_ops], any_sparse)`` when H and every collapse operator is a
    single constant operator (array, scipy.sparse or ``Qobj``) or QuTiP's list format of such
    operators with coefficients (``H(t) = H0 + Σ_j f_j(t) H_j``, ``c(t) = Σ_j g_j(t) C_j``), as
    the sparse format takes them; else None (a callable H, batches: the dense engine).

    Example:
        >>> import scipy.sparse as sp
        >>> ops, any_sparse = sparse_operators([sp.eye(3), [sp.eye(3), lambda t: t]], [np.eye(3)])
        >>> len(ops), any_sparse
        (3, True)
        >>> sparse_operators(lambda t: np.eye(3), []) is None
        True
    """
    ops = []
    for x in [H] + list(c_list):
        part = _operator_list(x)
        if part is None:
            return None
        ops += part
    return ops, any(is_sparse(o) for o in ops)


def densify(x: Any) -> Any:
    """A scipy.sparse matrix as a dense array (for the dense engine); anything else unchanged."""
    return x.toarray() if sp.issparse(x) else x


def operator_bytes(ops: list) -> tuple[int, int]:
    """``(dense, sparse)`` bytes of ``ops`` stored densely (16 n² each) and in the real-split
    coordinate format of mesolve (16 + 2·4 bytes per nonzero)."""
    dense = sum(16 * o.shape[0] * o.shape[1] for o in ops)
    nnz = sum(o.nnz if sp.issparse(o) else int(np.count_nonzero(o)) for o in ops)
    return dense, 24 * nnz
