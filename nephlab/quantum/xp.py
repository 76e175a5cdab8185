"""An array-module backend for large sparse Lindblad problems: NumPy/SciPy on the CPU, CuPy on a GPU.

One code path serves both: every function takes its array module from its arguments
(:func:`get_array_module`, the ``cupy.get_array_module`` idiom), so the right-hand side and the
integrators below run with ``scipy.sparse`` operators and NumPy density matrices, or with
``cupyx.scipy.sparse`` operators and CuPy density matrices, unchanged. That is how the CuPy
backend is tested on machines without a GPU.

The Lindblad right-hand side is applied matrix-free at a cost of O(nnz · D) for a D × D state:

    L(ρ) = -i (H_eff ρ - ρ H_eff†) + Σ_k L_k ρ L_k†,     H_eff = H - (i/2) Σ_k L_k† L_k,

with ``H_eff`` and the ``L_k`` kept as sparse CSR matrices and ``ρ`` dense. Products from the right
use ``ρ S = (S† ρ†)†`` so that only sparse @ dense products are needed (cuSPARSE SpMM on a GPU).

Public entry: :func:`mesolve_xp` (also reached as ``nephlab.mesolve(..., backend="numpy"|"cupy")``)
with fixed-step ``"rk4"`` and adaptive ``"tsit5"`` / ``"dopri5"`` (the tableaus and step-size
controller of nephlab's JAX engine, :mod:`nephlab.quantum._rk`). A custom CUDA kernel
(``cupy.RawKernel``) for the right-hand side is deliberately not provided: no GPU measurement has
shown that it would beat cuSPARSE yet.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._validate import real_number, time_grid
from ._convert import is_qobj, to_numpy
from .result import Result

__all__ = ["BACKENDS", "METHODS", "SparseLindblad", "as_sparse", "get_array_module", "kerr_chain", "lindblad_rhs",
           "mesolve_backend", "mesolve_xp"]

BACKENDS = ("numpy", "cupy")
METHODS = ("rk4", "tsit5", "dopri5")


# ---------------------------------------------------------------------------------------------
# array modules
# ---------------------------------------------------------------------------------------------


def _cupy():
    """The ``cupy`` module, or None when it is not installed."""
    try:
        import cupy  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return None
    return cupy


def get_array_module(*arrays: Any):
    """The array module (``numpy`` or ``cupy``) of ``arrays``, like ``cupy.get_array_module``.

    CuPy arrays and ``cupyx.scipy.sparse`` matrices give ``cupy``; anything else (NumPy arrays,
    ``scipy.sparse`` matrices, scalars) gives ``numpy``. CuPy need not be installed.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> get_array_module(np.eye(2), sp.eye(2)).__name__
        'numpy'
    """
    for a in arrays:
        mod = type(a).__module__ or ""
        if mod.startswith("cupy") or mod.startswith("cupyx"):
            return _cupy()
    return np


def _sparse_module(xp):
    if xp is np:
        import scipy.sparse as sps

        return sps
    import cupyx.scipy.sparse as cps

    return cps


def _backend_module(backend: Any):
    """The array module of ``backend``; a clear error when it cannot run here."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(repr(b) for b in BACKENDS)} (or 'jax' in mesolve); got {backend!r}")
    if backend == "numpy":
        return np
    cp = _cupy()
    if cp is None:
        raise ValueError(
            "backend='cupy' needs the cupy package (e.g. pip install cupy-cuda12x) and an NVIDIA GPU, but cupy "
            "is not installed here; use backend='numpy' (the same code on the CPU) or backend='jax'"
        )
    try:
        ndev = cp.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - no driver
        ndev = 0
    if ndev < 1:
        raise ValueError("backend='cupy' needs a CUDA GPU, but CuPy sees none; use backend='numpy' or backend='jax'")
    return cp


# ---------------------------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------------------------


def _is_jax_gpu(x: Any) -> bool:
    try:
        import jax

        return isinstance(x, jax.Array) and any(d.platform == "gpu" for d in x.devices())
    except Exception:  # noqa: BLE001
        return False


def _is_sparse(x: Any) -> bool:
    import scipy.sparse as sps

    if sps.issparse(x):
        return True
    mod = type(x).__module__ or ""
    return mod.startswith("cupyx.scipy.sparse")


def as_sparse(x: Any, name: str, xp=np):
    """An (n, n) operator as a complex128 CSR matrix of the array module ``xp``.

    Accepts ``scipy.sparse`` / ``cupyx.scipy.sparse`` matrices, QuTiP ``Qobj`` (CSR and Dia data
    stay sparse: they are never converted to dense), NumPy arrays and JAX arrays (a JAX array on a
    GPU goes to CuPy by DLPack, without a host copy). Checks that the matrix is square and finite.

    Example:
        >>> import numpy as np
        >>> as_sparse(np.diag([1.0, 2.0]), "H").nnz
        2
    """
    sps = _sparse_module(xp)
    if is_qobj(x):
        data = x.data
        if hasattr(data, "as_scipy"):  # CSR and Dia keep their sparsity
            x = data.as_scipy()
        else:
            x = np.asarray(x.full())
    if _is_sparse(x):
        if xp is np and not (type(x).__module__ or "").startswith("scipy"):
            x = x.get()  # a cupyx matrix asked for on the host
        elif xp is not np and (type(x).__module__ or "").startswith("scipy"):
            x = sps.csr_matrix(x.tocsr())  # host -> device, once
        m = sps.csr_matrix(x, dtype=np.complex128)
    else:
        if xp is not np and _is_jax_gpu(x):
            arr = xp.from_dlpack(x).astype(xp.complex128)
        elif xp is not np and get_array_module(x) is xp:
            arr = x.astype(xp.complex128)
        else:
            arr = xp.asarray(to_numpy(x, name))
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a single (n, n) operator here (no batch axes), got shape {arr.shape}")
        m = sps.csr_matrix(arr)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (n, n), got shape {m.shape}")
    if m.nnz and not bool(xp.isfinite(m.data).all()):
        raise ValueError(f"{name} contains NaN or inf; all entries must be finite")
    return m


def _dag(S):
    return S.conj().T.tocsr()


class SparseLindblad:
    """The Lindblad generator ``ρ ↦ L(ρ)`` with sparse operators, applied matrix-free.

    Args:
        H: Hamiltonian, (D, D) CSR matrix of ``xp`` (energy units, ħ = 1).
        c_ops: collapse operators ``L_k = sqrt(rate) O_k``, each a (D, D) CSR matrix of ``xp``.

    ``lind(rho)`` returns ``L(ρ)`` (D, D) for any (not necessarily Hermitian) ``ρ``;
    ``lind(rho, hermitian=True)`` assumes ``ρ = ρ†`` and does half the sparse products. The cost
    is O(nnz · D) per call; memory is that of the sparse operators and a few D × D arrays.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> a = sp.csr_matrix(np.diag([1.0], 1))
        >>> lind = SparseLindblad(sp.csr_matrix((2, 2)), [a])
        >>> lind(np.diag([0.0, 1.0]).astype(complex)).real   # decay |1> -> |0> at rate 1
        array([[ 1.,  0.],
               [ 0., -1.]])
    """

    def __init__(self, H, c_ops):
        self.xp = get_array_module(H, *c_ops)
        self.n = H.shape[0]
        heff = H.astype(np.complex128)
        for c in c_ops:
            heff = heff - 0.5j * (_dag(c) @ c)
        heff = heff.tocsr()
        heff.sum_duplicates()
        self.H = H
        self.c_ops = list(c_ops)
        self.heff = heff
        self.nnz = int(heff.nnz + sum(c.nnz for c in c_ops))

    def __call__(self, rho, hermitian: bool = False):
        # sparse @ dense is fastest on a C-contiguous dense operand (2× on SciPy for a
        # transposed view), so the daggered intermediates are made contiguous
        dag = lambda X: self.xp.ascontiguousarray(X.conj().T)  # noqa: E731
        A = self.heff @ rho
        if hermitian:  # ρ H_eff† = (H_eff ρ)†
            out = -1j * (A - A.conj().T)
            for c in self.c_ops:
                out += c @ dag(c @ rho)  # L ρ L† = L (L ρ)†
        else:
            rho_d = dag(rho)
            out = -1j * (A - (self.heff @ rho_d).conj().T)
            for c in self.c_ops:
                out += c @ dag(c @ rho_d)  # L ρ L† = L (L ρ†)†
        return out


def lindblad_rhs(H, c_ops, rho):
    """``L(ρ) = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ})`` with sparse ``H``, ``L_k`` (D, D)
    and a dense ``ρ`` (D, D), in the array module of the inputs (NumPy/SciPy or CuPy/cupyx).

    For repeated calls build a :class:`SparseLindblad` once instead.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> H = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
        >>> (lindblad_rhs(H, [], np.diag([1.0, 0.0]).astype(complex)).imag + 0.0).tolist()   # -i[σx, |0><0|]
        [[0.0, 1.0], [-1.0, 0.0]]
    """
    return SparseLindblad(H, c_ops)(rho)


def kerr_chain(M: int, d: int = 3, *, delta: float = -0.5, U: float = 0.5, F: float = 0.3, J: float = 0.2,
               kappa: float = 0.1):
    """M driven Kerr cavities in an open chain, as ``scipy.sparse`` CSR matrices (D = d**M).

    ``H = Σ_k [Δ n_k + U a_k†a_k†a_k a_k + F (a_k + a_k†)] + J Σ_k (a_k† a_{k+1} + h.c.)`` (energy
    units, ħ = 1), collapse operators ``L_k = sqrt(κ) a_k``; each ``a_k`` is truncated at d levels
    and embedded by Kronecker products with identities, never densified.

    Returns:
        ``(H, c_ops, a)``: H (D, D), the M collapse operators and the M annihilators (D, D).

    Example:
        >>> H, c_ops, a = kerr_chain(3)
        >>> H.shape, len(c_ops), H.format
        ((27, 27), 3, 'csr')
    """
    import scipy.sparse as sps

    ann = sps.diags(np.sqrt(np.arange(1, d, dtype=float)), 1, format="csr", dtype=np.complex128)
    eye = sps.identity(d, format="csr", dtype=np.complex128)

    def site(op, k):
        out = sps.identity(1, format="csr", dtype=np.complex128)
        for j in range(M):
            out = sps.kron(out, op if j == k else eye, format="csr")
        return out

    a = [site(ann, k) for k in range(M)]
    H = sps.csr_matrix((d**M, d**M), dtype=np.complex128)
    for k in range(M):
        ad = _dag(a[k])
        H = H + delta * (ad @ a[k]) + U * (ad @ ad @ a[k] @ a[k]) + F * (a[k] + ad)
    for k in range(M - 1):
        hop = _dag(a[k]) @ a[k + 1]
        H = H + J * (hop + _dag(hop))
    return H.tocsr(), [np.sqrt(kappa) * ak for ak in a], a


# ---------------------------------------------------------------------------------------------
# integrators (host loop, array-module arithmetic)
# ---------------------------------------------------------------------------------------------


def _tableau(method: str):
    from . import _rk

    return _rk.tsit5_tableau() if method == "tsit5" else _rk.dopri5_tableau()


def _err_norm(xp, e, y, yn, rtol, atol):
    """Weighted RMS norm over the real and imaginary parts (the convention of nephlab's engine)."""
    sc_r = atol + rtol * xp.maximum(xp.abs(y.real), xp.abs(yn.real))
    sc_i = atol + rtol * xp.maximum(xp.abs(y.imag), xp.abs(yn.imag))
    s = xp.sum((e.real / sc_r) ** 2) + xp.sum((e.imag / sc_i) ** 2)
    return math.sqrt(float(s) / (2 * e.size))


def _lincomb(ws, ks):
    out = None
    for w, k in zip(ws, ks):
        if w == 0.0:
            continue
        out = w * k if out is None else out + w * k
    return out


def _rk4(f, y, tlist, dt, save):
    """Classical RK4; each interval of ``tlist`` in ``m = ceil(Δt/dt)`` equal steps (as the JAX engine)."""
    steps = 0
    save(0, y)
    for j in range(1, len(tlist)):
        ta, tb = float(tlist[j - 1]), float(tlist[j])
        m = max(1, math.ceil((tb - ta) / dt - 1e-9))
        h = (tb - ta) / m
        for _ in range(m):
            k1 = f(y)
            k2 = f(y + (0.5 * h) * k1)
            k3 = f(y + (0.5 * h) * k2)
            k4 = f(y + h * k3)
            y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        steps += m
        save(j, y)
    return y, {"steps": steps, "accepted": steps, "rejected": 0, "rhs_evals": 4 * steps, "success": True}


def _adaptive(xp, f, y, tlist, tb, rtol, atol, max_steps, save):
    """Embedded 5(4) pair ``tb`` with dense output, the initial step and PI controller of
    :mod:`nephlab.quantum._rk` (Hairer, Nørsett & Wanner)."""
    from ._rk import pi_factor_exponents

    alpha, beta = pi_factor_exponents(tb.order)
    t0, t_end = float(tlist[0]), float(tlist[-1])
    save(0, y)
    k1 = f(y)
    d0 = _err_norm(xp, y, y, y, rtol, atol)
    d1 = _err_norm(xp, k1, y, y, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    k2 = f(y + h0 * k1)
    d2 = _err_norm(xp, k2 - k1, y, y, rtol, atol) / h0
    dm = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if dm <= 1e-15 else (0.01 / dm) ** (1.0 / tb.order)
    h = min(100 * h0, h1, t_end - t0)
    t, idx, steps, accepted, en_prev = t0, 1, 0, 0, 1.0
    T = len(tlist)
    while idx < T and steps < max_steps and h > 0:
        h = min(h, t_end - t)
        ks = [k1]
        for i in range(1, 7):
            yi = y + h * _lincomb(tb.a[i - 1], ks)
            ks.append(f(yi))
        y_new = yi
        en = _err_norm(xp, h * _lincomb(tb.e, ks), y, y_new, rtol, atol)
        steps += 1
        en_safe = max(en, 1e-10)
        if en <= 1.0:
            t_new = t_end if t + h >= t_end else t + h
            while idx < T and float(tlist[idx]) <= t_new:
                ts = float(tlist[idx])
                ys = y_new if ts >= t_new else y + h * _lincomb(tb.dense((ts - t) / h, tb.b), ks)
                save(idx, ys)
                idx += 1
            fac = min(10.0, max(0.2, 0.9 * en_safe ** (-alpha) * en_prev ** beta))
            t, y, k1, en_prev = t_new, y_new, ks[6], max(en, 1e-4)
            accepted += 1
        else:
            fac = min(1.0, max(0.2, 0.9 * en_safe ** (-1.0 / tb.order)))
        h = h * fac
    return y, {"steps": steps, "accepted": accepted, "rejected": steps - accepted, "rhs_evals": 6 * steps + 2,
               "success": idx >= T}


# ---------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------


def _c_list(c_ops):
    if c_ops is None:
        return []
    if isinstance(c_ops, (list, tuple)):
        return list(c_ops)
    return [c_ops]


def _state(rho0, n, xp):
    """``rho0`` (ket or density matrix) as a dense (n, n) complex128 array of ``xp``, validated."""
    if xp is not np and (_is_jax_gpu(rho0) or get_array_module(rho0) is xp):
        arr = xp.from_dlpack(rho0) if _is_jax_gpu(rho0) else rho0
        arr = arr.astype(xp.complex128)
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
            v = arr.reshape(-1)
            nrm = float(xp.linalg.norm(v))
            if abs(nrm - 1.0) > 1e-9:
                raise ValueError(f"rho0 is a ket of norm {nrm:.6g}, not 1")
            arr = xp.outer(v, v.conj())
        if arr.shape != (n, n):
            raise ValueError(f"rho0 has shape {arr.shape}, which does not match the dimension n={n} of H")
        dev = float(xp.abs(arr - arr.conj().T).max())
        if dev > 1e-10 * max(1.0, float(xp.abs(arr).max())):
            raise ValueError(f"rho0 must be Hermitian (a density matrix equals its conjugate transpose), but |rho0 - rho0†| reaches {dev:.3g}")
        tr = float(xp.trace(arr).real)
        if abs(tr - 1.0) > 1e-9:
            raise ValueError(f"rho0 has trace {tr:.6g} but must have trace 1")
        return arr
    from ._convert import as_density_matrix

    arr = as_density_matrix(rho0, "rho0")
    if arr.shape != (n, n):
        raise ValueError(f"rho0 has shape {arr.shape}, which does not match the dimension n={n} of H "
                         "(batch axes are not supported by the array-module backend)")
    return xp.asarray(arr)


def _eops(e_ops, n, xp):
    if e_ops is None:
        return [], None, []
    keys = None
    if isinstance(e_ops, dict):
        keys = list(e_ops)
        items, names = [e_ops[k] for k in keys], [f"e_ops[{k!r}]" for k in keys]
    elif isinstance(e_ops, (list, tuple)):
        items, names = list(e_ops), [f"e_ops[{i}]" for i in range(len(e_ops))]
    elif is_qobj(e_ops) or _is_sparse(e_ops) or hasattr(e_ops, "shape"):
        items, names = [e_ops], ["e_ops"]
    else:
        raise TypeError(f"e_ops must be a list or dict of operators, got {type(e_ops).__name__}")
    ops, herm = [], []
    for item, name in zip(items, names):
        if callable(item) and not hasattr(item, "shape") and not is_qobj(item):
            raise TypeError(f"{name} is a callable; e_ops must be operators (n, n)")
        op = as_sparse(item, name, xp)
        if op.shape != (n, n):
            raise ValueError(f"{name} has shape {op.shape}, whose last two axes do not match the dimension n={n} of H")
        d = op - _dag(op)
        herm.append(d.nnz == 0 or float(abs(d).max()) <= 1e-12)
        # Tr(O ρ) = Σ_ij O_ij ρ_ji = sum(O ∘ ρᵀ): only the nonzeros of O are touched
        ops.append(op.tocoo())
    return ops, keys, herm


def _expect_one(op, rho):
    return complex((op.data * rho[op.col, op.row]).sum())


def mesolve_xp(
    H: Any,
    rho0: Any,
    tlist: Any,
    c_ops: Any = None,
    *,
    e_ops: Any = None,
    method: str = "rk4",
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    store_states: bool = True,
    max_steps: int = 100_000,
    backend: str = "numpy",
) -> Result:
    """Lindblad master equation with sparse operators on NumPy/SciPy (CPU) or CuPy (GPU).

    Solves ``dρ/dt = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ})`` with ``H`` and the ``L_k`` as
    sparse CSR matrices (O(nnz · D) per right-hand side, no D² × D² objects) and a dense D × D
    state. Units: ħ = 1; ``H`` in energy units, times in inverse energy units, ``L_k`` in
    sqrt(energy). Constant operators only, one system (no batch axes, no time dependence: use
    :func:`nephlab.mesolve` for those).

    Args:
        H: Hermitian Hamiltonian (D, D): ``scipy.sparse``/``cupyx.scipy.sparse`` matrix, QuTiP
            ``Qobj`` (CSR/Dia data stay sparse), NumPy, CuPy or JAX array.
        rho0: initial density matrix (D, D) or ket (D,) / (D, 1), trace 1.
        tlist: strictly increasing saved times (T,); integration starts at ``tlist[0]``.
        c_ops: list of collapse operators (D, D), same types as ``H``.
        e_ops: list or dict of operators (D, D) whose expectation values are recorded.
        method: ``"rk4"`` (fixed step, needs ``dt``; each interval of ``tlist`` is cut into
            ``ceil(Δt/dt)`` equal steps, as nephlab's JAX ``rk4``), ``"tsit5"`` or ``"dopri5"``
            (adaptive 5(4) pairs with nephlab's tolerances convention).
        dt: step of ``"rk4"`` (time units); refused by the adaptive methods.
        rtol, atol: tolerances of the adaptive methods (relative; absolute per real component).
        store_states: keep ρ(t) at every saved time (T × D² complex numbers).
        max_steps: step limit of the adaptive methods.
        backend: ``"numpy"`` (SciPy sparse on the CPU) or ``"cupy"`` (cuSPARSE on a GPU; needs
            ``cupy`` and a CUDA device). JAX arrays on a GPU reach CuPy through DLPack, and the
            states come back as JAX arrays on that GPU, without host copies.

    Returns:
        :class:`nephlab.quantum.result.Result` as from :func:`nephlab.mesolve`: ``states``
        (T, D, D) and ``final_state`` (D, D) as NumPy arrays (``"numpy"``) or JAX arrays on the GPU
        (``"cupy"``); ``expect`` real for Hermitian e_ops; ``stats["format"] == "csr"`` and
        ``stats["device"]`` naming the backend.

    Raises:
        ValueError: unknown ``backend``/``method``, ``backend="cupy"`` without CuPy or a GPU,
            shapes that do not match, a non-Hermitian ``H``, a bad ``rho0``, ``dt`` missing for
            ``"rk4"`` or given to an adaptive method.
        TypeError: inputs of an unsupported type (e.g. QuTiP's time-dependent list format).
        RuntimeError: an adaptive method hit ``max_steps``.

    Example:
        >>> import numpy as np, qutip
        >>> a = qutip.destroy(3)
        >>> res = mesolve_xp(a.dag() * a, qutip.basis(3, 1), np.linspace(0, 1, 5), [np.sqrt(0.5) * a],
        ...                  e_ops=[a.dag() * a], method="rk4", dt=0.01)
        >>> round(float(res.expect[0][-1]), 8) == round(float(np.exp(-0.5)), 8)
        True
    """
    t_start = time.perf_counter()
    xp = _backend_module(backend)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)} for the array-module backend; got {method!r}")
    tl = time_grid(tlist, "tlist")
    if method == "rk4":
        if dt is None:
            raise ValueError("dt is required by method='rk4' (the fixed step, in time units)")
        dt = real_number(dt, "dt", positive=True)
    elif dt is not None:
        raise ValueError(f"dt is only for method='rk4'; method={method!r} chooses its steps from rtol/atol")
    rtol = real_number(rtol, "rtol", positive=True)
    atol = real_number(atol, "atol", positive=True)
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if isinstance(H, (list, tuple)):
        raise TypeError("H must be one operator (D, D) for the array-module backend; the time-dependent list "
                        "format needs backend='jax'")
    Hs = as_sparse(H, "H", xp)
    n = Hs.shape[0]
    d = Hs - _dag(Hs)
    if d.nnz:
        worst = float(abs(d).max())
        if worst > 1e-10 * max(1.0, float(abs(Hs).max())):
            raise ValueError(f"H must be Hermitian (a Hamiltonian equals its conjugate transpose), but |H - H†| reaches {worst:.3g}")
    cl = []
    for i, c in enumerate(_c_list(c_ops)):
        if isinstance(c, (list, tuple)):
            raise TypeError(f"c_ops[{i}] is in the time-dependent list format, which needs backend='jax'")
        ci = as_sparse(c, f"c_ops[{i}]", xp)
        if ci.shape != (n, n):
            raise ValueError(f"c_ops[{i}] has shape {ci.shape}, which does not match the dimension n={n} of H")
        cl.append(ci)
    rho = _state(rho0, n, xp)
    e_list, e_keys, herm = _eops(e_ops, n, xp)
    from ._convert import qobj_dims

    dims = qobj_dims([("rho0", rho0), ("H", H), ("c_ops", c_ops), ("e_ops", e_ops)])

    lind = SparseLindblad(Hs, cl)
    T = len(tl)
    states = xp.empty((T, n, n), dtype=xp.complex128) if store_states else None
    ex = np.zeros((T, len(e_list)), dtype=np.complex128)

    def save(j, y):
        if states is not None:
            states[j] = y
        for k, op in enumerate(e_list):
            ex[j, k] = _expect_one(op, y)

    def f(y):
        return lind(y, hermitian=True)

    if method == "rk4":
        final, stats = _rk4(f, rho, tl, dt, save)
    else:
        final, stats = _adaptive(xp, f, rho, tl, _tableau(method), rtol, atol, int(max_steps), save)
    if not stats.pop("success"):
        raise RuntimeError(f"mesolve_xp: method {method!r} did not reach t={tl[-1]} within max_steps={max_steps}; "
                           "raise max_steps or loosen rtol/atol")
    if xp is not np:
        xp.cuda.Device().synchronize()
        import jax

        final = jax.dlpack.from_dlpack(final)
        states = jax.dlpack.from_dlpack(states) if states is not None else None
        device = f"gpu:{xp.cuda.Device().id} (cupy)"
    else:
        device = "cpu (numpy/scipy)"
    expect = None
    if e_list:
        vals = [ex[:, k].real if h else ex[:, k] for k, h in enumerate(herm)]
        expect = dict(zip(e_keys, vals)) if e_keys is not None else vals
    stats.update(method=method, wall_time=time.perf_counter() - t_start, device=device, format="csr",
                 interaction_frame=False, backend=backend, nnz=lind.nnz)
    return Result(times=tl, expect=expect, states=states, final_state=final, method=method, stats=stats,
                  batch_shape=(), e_keys=e_keys, dims=dims)


def mesolve_backend(backend: Any, H, rho0, tlist, c_ops=None, *, e_ops=None, method="auto", rtol=None, atol=None,
                    dt=None, store_states=True, max_steps=None, **unsupported) -> Result:
    """``nephlab.mesolve(..., backend=...)`` for a backend other than ``"jax"``: validate and call
    :func:`mesolve_xp`. ``method="auto"`` means ``"tsit5"``; ``None`` tolerances and step limit
    take :func:`mesolve_xp`'s defaults. Options of ``mesolve`` that the array-module backend does
    not have (``args``, ``on_save``, ``chunk``, ``options``, ``normalize``, ``progress``) must be
    left at their defaults, else a ValueError names them.

    Example:
        >>> mesolve_backend("torch", None, None, None)
        Traceback (most recent call last):
        ...
        ValueError: backend must be one of 'jax', 'numpy', 'cupy'; got 'torch'
    """
    if not isinstance(backend, str) or backend not in ("jax",) + BACKENDS:
        raise ValueError(f"backend must be one of 'jax', {', '.join(repr(b) for b in BACKENDS)}; got {backend!r}")
    given = sorted(k for k, v in unsupported.items() if v not in (None, False))
    if given:
        raise ValueError(f"mesolve(backend={backend!r}) does not support {', '.join(given)}; leave them at their "
                         "defaults or use backend='jax'")
    if not isinstance(method, str):
        raise ValueError(f"method must be a name ({', '.join(repr(m) for m in METHODS)} or 'auto') with "
                         f"backend={backend!r}, got {method!r}")
    kw = {k: v for k, v in dict(rtol=rtol, atol=atol, max_steps=max_steps).items() if v is not None}
    return mesolve_xp(H, rho0, tlist, c_ops, e_ops=e_ops, method="tsit5" if method == "auto" else method, dt=dt,
                      store_states=store_states, backend=backend, **kw)
