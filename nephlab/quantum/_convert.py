"""Input conversion and validation shared by every public function of nephlab.quantum.

Everything that enters the engine passes through here first, so that bad input fails at the
public boundary with a message that names the argument, the value and what is allowed.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401

HERMITIAN_TOL = 1e-10


def is_qobj(x: Any) -> bool:
    """True for a QuTiP ``Qobj`` (checked without importing QuTiP)."""
    return type(x).__name__ == "Qobj" and hasattr(x, "full")


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert a NumPy/JAX array, nested list or QuTiP ``Qobj`` to a complex128 NumPy array.

    Raises TypeError naming ``name`` for anything else.
    """
    if is_qobj(x):
        return np.asarray(x.full(), dtype=np.complex128)
    if type(x).__module__.startswith("scipy.sparse") and hasattr(x, "toarray"):
        return np.asarray(x.toarray(), dtype=np.complex128)
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{name} must be concrete (a NumPy/JAX array or Qobj), got a traced JAX value; "
            "call nephlab functions outside jax.jit/vmap, or pass the traced values through args"
        )
    if isinstance(x, (np.ndarray, jax.Array, list, tuple, int, float, complex, np.number)):
        try:
            arr = np.asarray(x, dtype=np.complex128)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} could not be read as a complex array: {err}") from None
        return arr
    raise TypeError(
        f"{name} must be a NumPy array, JAX array or QuTiP Qobj, got {type(x).__name__}"
    )


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError if ``arr`` holds NaN or inf, naming the first bad entry."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains NaN or inf (entry {idx} is {arr[idx]}); all entries must be finite")


def as_operator(x: Any, name: str, *, batch: bool = True, hermitian: bool = False, kind: str | None = None) -> np.ndarray:
    """Validate an operator: shape (..., n, n) (leading batch axes only if ``batch``), finite,
    and Hermitian to ``HERMITIAN_TOL`` (relative to its largest entry) if ``hermitian``
    (``kind``, e.g. ``"Hamiltonian"``, names what it is in that message).

    Returns a complex128 NumPy array.
    """
    arr = to_numpy(x, name)
    if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must be a square matrix of shape (n, n){' or (batch..., n, n)' if batch else ''}, got shape {arr.shape}")
    if not batch and arr.ndim != 2:
        raise ValueError(f"{name} must be a single (n, n) matrix here, got shape {arr.shape}")
    check_finite(arr, name)
    if hermitian:
        check_hermitian(arr, name, kind)
    return arr


def check_hermitian(arr: np.ndarray, name: str, kind: str | None = None) -> None:
    """Raise ValueError if ``arr`` (..., n, n) is not Hermitian to ``HERMITIAN_TOL`` relative.

    The message names the argument ``name`` and, if given, what it is (``kind``: e.g.
    ``"Hamiltonian"`` or ``"density matrix"``).

    Example:
        >>> check_hermitian(np.array([[0.5, 0.5], [0.1, 0.5]]), "rho0", "density matrix")
        Traceback (most recent call last):
        ...
        ValueError: rho0 must be Hermitian (a density matrix equals its conjugate transpose), but |rho0 - rho0†| reaches 0.4 at entry (0, 1)
    """
    if type(arr).__module__.startswith("scipy.sparse"):  # sparse: checked on the nonzeros only
        d = (arr - arr.conj().T).tocoo()
        scale = max(1.0, float(abs(arr).max()))
        worst = float(np.abs(d.data).max(initial=0.0))
        if worst > HERMITIAN_TOL * scale:
            k = int(np.argmax(np.abs(d.data)))
            what = f"a {kind} equals its conjugate transpose" if kind else "equal to its conjugate transpose"
            raise ValueError(f"{name} must be Hermitian ({what}), but |{name} - {name}†| reaches {worst:.3g} "
                             f"at entry {(int(d.row[k]), int(d.col[k]))}")
        return
    dev = np.abs(arr - np.conj(np.swapaxes(arr, -1, -2)))
    scale = max(1.0, float(np.abs(arr).max(initial=0.0)))
    worst = float(dev.max(initial=0.0))
    if worst > HERMITIAN_TOL * scale:
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(dev), dev.shape))
        what = f"a {kind} equals its conjugate transpose" if kind else "equal to its conjugate transpose"
        raise ValueError(f"{name} must be Hermitian ({what}), but |{name} - {name}†| reaches {worst:.3g} at entry {idx}")


def check_dims(arr: np.ndarray, n: int, name: str, ref: str) -> None:
    """Raise ValueError unless the last two axes of ``arr`` are (n, n)."""
    if arr.shape[-2:] != (n, n):
        raise ValueError(f"{name} has shape {arr.shape}, whose last two axes do not match the dimension n={n} of {ref}")


def as_density_matrix(x: Any, name: str = "rho0", *, normalize: bool = False, tol: float = 1e-9) -> np.ndarray:
    """Validate a state: a ket (..., n) / (..., n, 1) becomes ``|psi><psi|``; a density matrix
    (..., n, n) must be Hermitian, have unit trace and be positive semidefinite (smallest
    eigenvalue >= -tol). With ``normalize=True`` kets and traces are rescaled to 1 instead of
    raising (never silently otherwise).
    """
    arr = to_numpy(x, name)
    check_finite(arr, name)
    if is_qobj(x) and getattr(x, "isket", False):
        arr = arr[:, 0]
    elif arr.ndim >= 2 and arr.shape[-1] == 1 and arr.shape[-2] != 1:
        arr = arr[..., 0]
    if arr.ndim == 1 or (arr.ndim >= 2 and arr.shape[-1] != arr.shape[-2]):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a ket (n,), (n, 1) or a density matrix (..., n, n), got shape {arr.shape}")
        norm = np.linalg.norm(arr)
        if abs(norm - 1.0) > tol:
            if not normalize or norm == 0:
                raise ValueError(f"{name} is a ket of norm {norm:.6g}, not 1; pass normalize=True to rescale it")
            arr = arr / norm
        return np.outer(arr, np.conj(arr))
    check_hermitian(arr, name, "density matrix")
    tr = np.trace(arr, axis1=-2, axis2=-1).real
    if np.any(np.abs(tr - 1.0) > tol):
        if not normalize or np.any(tr <= 0):
            raise ValueError(f"{name} has trace {np.atleast_1d(tr).ravel()[:4]} but must have trace 1; pass normalize=True to rescale it")
        arr = arr / tr[..., None, None]
    herm = 0.5 * (arr + np.conj(np.swapaxes(arr, -1, -2)))
    lam = smallest_eigenvalue_below(herm, -tol)
    if lam is not None:
        raise ValueError(
            f"{name} is not positive semidefinite: its smallest eigenvalue is {lam:.3g} (< -{tol:g}); "
            "a density matrix needs eigenvalues >= 0 (normalize=True fixes the trace only)"
        )
    return arr


def smallest_eigenvalue_below(herm: np.ndarray, bound: float) -> float | None:
    """The smallest eigenvalue of the Hermitian ``herm`` (..., n, n) if it is below ``bound``
    (over the whole batch), else None.

    Cheap certificates first, since a full eigenvalue decomposition (O(n³), ~0.4 s at n = 729 on
    two cores) would cost more than many solves: a diagonal matrix (a Fock or thermal state) has
    its diagonal as eigenvalues (O(n²)); otherwise a Cholesky factorisation of ``herm - bound·I``
    (n³/3 flops, several times faster than ``eigvalsh``) exists exactly when every eigenvalue
    exceeds ``bound`` (up to rounding of order n·eps·|herm|). Only when it fails are the
    eigenvalues computed, for the value to report.

    Example:
        >>> smallest_eigenvalue_below(np.diag([1.0, 0.0]), -1e-9) is None
        True
        >>> float(round(smallest_eigenvalue_below(np.array([[0.5, 0.7], [0.7, 0.5]]), -1e-9), 12))
        -0.2
    """
    n = herm.shape[-1]
    d = np.diagonal(herm, axis1=-2, axis2=-1).real
    if np.array_equal(herm, d[..., :, None] * np.eye(n)):
        lam = float(d.min(initial=np.inf))
        return lam if lam < bound else None
    try:
        np.linalg.cholesky(herm - bound * np.eye(n))
        return None
    except np.linalg.LinAlgError:
        lam = float(np.linalg.eigvalsh(herm).min())
        return lam if lam < bound else None


def to_jax(arr: np.ndarray, device=None) -> jnp.ndarray:
    """Put a NumPy array on nephlab's device as complex128 (or its own real dtype)."""
    return jax.device_put(jnp.asarray(arr), device if device is not None else _config.device())


# ---------------------------------------------------------------------------------------------
# QuTiP structure: what comes in as Qobj goes out as Qobj, with its dims
# ---------------------------------------------------------------------------------------------


def _operator_dims(q: Any) -> list | None:
    dims = [list(d) for d in q.dims]
    if getattr(q, "isket", False):
        return [dims[0], dims[0]]
    if getattr(q, "isbra", False):
        return [dims[1], dims[1]]
    if getattr(q, "isoper", True):
        return dims
    return None


def _find_qobjs(x: Any, name: str, out: list) -> None:
    if is_qobj(x):
        out.append((name, x))
    elif isinstance(x, dict):
        for k, v in x.items():
            _find_qobjs(v, f"{name}[{k!r}]", out)
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            _find_qobjs(v, f"{name}[{i}]", out)


def qobj_dims(named: list[tuple[str, Any]]) -> list | None:
    """QuTiP dims ``[[d1, d2, ...], [d1, d2, ...]]`` of the operators among the inputs, or None.

    ``named`` is a list of ``(argument name, value)``; values are searched through lists,
    tuples and dicts (QuTiP's list format). A ket's dims ``[[2, 2], [1]]`` count as the dims
    ``[[2, 2], [2, 2]]`` of its density matrix. Inputs with different dims are a ValueError
    naming both, as in QuTiP.

    Example:
        >>> import qutip
        >>> qobj_dims([("rho0", qutip.tensor(qutip.basis(2, 0), qutip.basis(2, 1))), ("H", None)])
        [[2, 2], [2, 2]]
    """
    found: list = []
    for name, value in named:
        _find_qobjs(value, name, found)
    dims, first = None, None
    for name, q in found:
        d = _operator_dims(q)
        if d is None:
            continue
        if dims is None:
            dims, first = d, name
        elif d != dims:
            raise ValueError(
                f"{name} has QuTiP dims {d}, but {first} has dims {dims}; Qobj inputs must have equal dims"
            )
    return dims


def to_qobj(arr: Any, dims: list | None) -> Any:
    """An (..., n, n) array as a QuTiP ``Qobj`` with ``dims``, nested lists over batch axes.

    Example:
        >>> import numpy as np
        >>> to_qobj(np.eye(4) / 4, [[2, 2], [2, 2]]).dims
        [[2, 2], [2, 2]]
    """
    import qutip

    a = np.asarray(arr)
    if a.ndim == 2:
        return qutip.Qobj(a, dims=dims)
    return [to_qobj(x, dims) for x in a]
