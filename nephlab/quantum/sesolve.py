"""``sesolve``: the Schrödinger equation for kets, QuTiP's call order, mesolve's integrators."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import _config
from .._validate import args_dict, broadcast_batch, time_grid
from . import _linear
from ._convert import check_dims, check_finite, is_qobj, qobj_dims, to_numpy
from .methods import METHODS, Expm, Method, Problem, Tsit5, _or_list, check_keywords, get_method
from .result import Result
from .timedep import CallableOperator, parse_operator

__all__ = ["KetResult", "sesolve"]

class KetResult(Result):
    """A :class:`Result` whose states are kets: ``states`` batch + (T, n), ``final_state``
    batch + (n,). ``populations()`` gives ``|ψ_i(t)|²``, ``purity()`` is 1 and ``entropy()`` 0;
    ``to_qutip()`` returns ket ``Qobj`` with the dims of the ``Qobj`` inputs.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import sesolve, sigmax
        >>> res = sesolve(0.5 * np.pi * sigmax(), np.array([1, 0]), [0.0, 1.0])
        >>> res.populations()[-1].round(12)
        array([0., 1.])
    """

    def __str__(self) -> str:
        return super().__str__().replace("n=", "kets, n=", 1)

    def populations(self) -> np.ndarray:
        """``|⟨i|ψ(t)⟩|²``, batch + (T, n)."""
        return np.abs(self._need_states("populations")) ** 2

    def purity(self) -> np.ndarray:
        """Tr ρ² = 1 for a pure state, batch + (T,)."""
        return np.ones(self._need_states("purity").shape[:-1])

    def entropy(self, base: float = np.e) -> np.ndarray:
        """The von Neumann entropy of a pure state, 0, batch + (T,)."""
        return np.zeros(self._need_states("entropy").shape[:-1])

    def to_xarray(self, batch_dims: list[str] | None = None, batch_coords: dict | None = None):
        """As :meth:`Result.to_xarray`, with the ket axis ``row`` (no ``col``)."""
        import dataclasses

        ds = Result.to_xarray(dataclasses.replace(self, states=None, final_state=np.zeros(self.batch_shape + (1, 1))),
                              batch_dims, batch_coords)
        b = list(ds["final_state"].dims[:-2])
        ds = ds.drop_vars("final_state").assign(final_state=(b + ["row"], np.asarray(self.final_state)))
        if self.states is not None:
            ds = ds.assign(states=(b + ["time", "row"], np.asarray(self.states)))
        return ds

    def to_qutip(self, final: bool = False):
        """Kets as QuTiP ``Qobj`` (a list over time, nested over the batch axes)."""
        import qutip

        dims = None if self.dims is None else [self.dims[0], [1] * len(self.dims[0])]

        def conv(a):
            if a.ndim == 1:
                return qutip.Qobj(a[:, None], dims=dims)
            return [conv(x) for x in a]

        return conv(np.asarray(self.final_state if final or self.states is None else self.states))


def as_kets(x: Any, name: str = "psi0", *, normalize: bool = False, tol: float = 1e-9) -> np.ndarray:
    """Validate kets: a ``Qobj`` ket, an array (n,), (n, 1) or a batch (..., n) / (..., n, 1)
    of unit norm (``normalize=True`` rescales instead of raising). Returns complex (..., n).

    Example:
        >>> as_kets([[1], [0]]).shape
        (2,)
    """
    if is_qobj(x) and not getattr(x, "isket", False):
        raise ValueError(f"{name} must be a ket (a state vector), got a Qobj of type {x.type!r}; "
                         "for a density matrix use mesolve")
    arr = to_numpy(x, name)
    if arr.ndim >= 2 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 0 or arr.shape[-1] < 1:
        raise ValueError(f"{name} must be a ket of shape (n,) or (n, 1), or a batch (..., n), got shape {np.shape(x)}")
    check_finite(arr, name)
    norm = np.linalg.norm(arr, axis=-1)
    if np.any(np.abs(norm - 1.0) > tol):
        if not normalize or np.any(norm == 0):
            bad = np.atleast_1d(norm)[np.abs(np.atleast_1d(norm) - 1.0) > tol][0]
            raise ValueError(f"{name} has norm {bad:.6g}, not 1; pass normalize=True to rescale it")
        arr = arr / norm[..., None]
    return arr


def _parse_eops(e_ops, n):
    from .mesolve import _parse_eops as parse

    try:
        return parse(e_ops, n)
    except ValueError as err:  # mesolve's message names its own state argument
        raise ValueError(str(err).replace("of rho0", "of psi0")) from None


def sesolve(
    H: Any,
    psi0: Any,
    tlist: Any,
    *,
    e_ops: Any = None,
    args: dict | None = None,
    method: str | Method = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    dt: float | None = None,
    store_states: bool = True,
    normalize: bool = False,
    max_steps: int | None = None,
) -> KetResult:
    """Solve the Schrödinger equation ``i dψ/dt = H(t) ψ`` for a ket or a batch of kets.

    Units: ħ = 1; ``H`` in energy units, times in inverse energy units. complex128.

    Args:
        H: Hamiltonian as in :func:`nephlab.mesolve`: an (..., n, n) array or ``Qobj``, QuTiP's
            list format ``[H0, [H1, f1], ...]`` (coefficients ``f(t)`` / ``f(t, args)`` written
            with ``jax.numpy``, or arrays sampled on ``tlist``), or a callable ``H(t, args)``.
            Must be Hermitian at every time. Leading axes are batch axes.
        psi0: initial ket (n,), (n, 1) or ``Qobj`` ket, or a batch (..., n) of kets; unit norm
            unless ``normalize=True``.
        tlist: strictly increasing times (T,); integration starts at ``tlist[0]``.
        e_ops: list (or dict) of operators (n, n); ``⟨ψ(t)|O|ψ(t)⟩`` is recorded.
        args: dict for coefficients ``f(t, args)``.
        method: ``"auto"`` (``"expm"``, an exact eigendecomposition, for a constant H; else
            ``"tsit5"``), ``"dopri5"``, ``"tsit5"``, ``"kvaerno5"``, ``"rk4"``, ``"magnus4"``,
            ``"expm"``, or a method object (``Tsit5(rtol=1e-10)``, ``Magnus4(dt=0.01)``).
        rtol, atol: tolerances of the adaptive methods (default 1e-6, 1e-8; per real and
            imaginary part of each amplitude).
        dt: step of ``rk4`` and ``magnus4`` (required by them).
        store_states: keep ψ(t) at every time; the final ket is always kept.
        normalize: rescale a ``psi0`` whose norm is not 1 instead of raising.
        max_steps: step limit of the adaptive methods (default 100000).

    Returns:
        :class:`KetResult` (a :class:`Result`): ``times`` (T,), ``expect`` (one array per e_op,
        batch + (T,), real for Hermitian e_ops), ``states`` batch + (T, n) or None,
        ``final_state`` batch + (n,), ``method``, ``stats``.

    Example:
        >>> import numpy as np
        >>> from nephlab.quantum import sesolve, sigmax, sigmaz
        >>> res = sesolve(sigmax(), np.array([1.0, 0.0]), np.linspace(0, np.pi / 2, 5), e_ops=[sigmaz()])
        >>> np.round(res.expect[0], 10).tolist()[::2]   # cos(2t)
        [1.0, 0.0, -1.0]
    """
    t_start = time.perf_counter()
    tl = time_grid(tlist, "tlist")
    args = args_dict(args)
    keywords = check_keywords(rtol=rtol, atol=atol, max_steps=max_steps, dt=dt)
    meth = get_method(method)
    psi = as_kets(psi0, "psi0", normalize=bool(normalize))
    n = psi.shape[-1]
    dims = qobj_dims([("psi0", psi0), ("H", H), ("e_ops", e_ops)])
    h_terms, h_callable = parse_hamiltonian(H, n, tl, args, ref="psi0")
    e_list, e_keys = _parse_eops(e_ops, n)

    time_dep = h_callable is not None or any(t.coeff is not None for t in h_terms)
    batch_shape = broadcast_batch([("psi0", psi.shape[:-1])] + [
        ("H" if len(h_terms) == 1 else f"H[{i}]", t.op.shape[:-2]) for i, t in enumerate(h_terms)])
    problem = Problem(n=n, batch=int(np.prod(batch_shape)) if batch_shape else 1, n_times=len(tl),
                      n_eops=len(e_list), store_states=bool(store_states), time_dependent_h=time_dep,
                      callable_h=h_callable is not None)
    meth = check_method(meth, problem, closed=True)
    meth = meth.configure(**keywords)

    splines: list = []
    specs, ops, func = _linear.assemble(True, h_terms, h_callable, [], splines)
    st = _linear.Structure(method=meth.static(), closed=True, specs=specs, func=func, n_eops=len(e_list),
                           store_states=bool(store_states), uniform=True)
    eops = np.stack(e_list) if e_list else np.zeros((0, n, n), np.complex128)
    saved, final, stats = _linear.run(st, ops, psi[..., None], tl, args, splines, eops, meth, batch_shape)
    if not bool(np.all(stats.pop("success"))):
        raise RuntimeError(not_reached("sesolve", meth, tl))
    expect = None
    if e_list:
        from .mesolve import _expect_values, _hermitian_flags

        expect = _expect_values(saved["expect"], _hermitian_flags(e_list), e_keys)
    states = saved["state"][..., 0] if store_states else None
    stats.update(method=meth.name, wall_time=time.perf_counter() - t_start, device=_config.device_name(),
                 format="dense")
    return KetResult(times=tl, expect=expect, states=states, final_state=final[..., 0], method=meth.name,
                     stats=stats, batch_shape=tuple(batch_shape), e_keys=e_keys, dims=dims)


# ---------------------------------------------------------------------------------------------
# shared with propagator()
# ---------------------------------------------------------------------------------------------


def parse_hamiltonian(H: Any, n: int | None, tl: np.ndarray, args, *, ref: str) -> tuple:
    """Parse and check ``H`` (shape against ``n`` of ``ref``, coefficients finite on ``tl``,
    Hermitian at every time): ``(terms, callable or None)``, exactly as ``mesolve`` does."""
    from .mesolve import _check_coefficients, _check_hamiltonian_hermitian, _eval_callable_h

    parsed = parse_operator(H, "H", tl)
    if isinstance(parsed, CallableOperator):
        h0 = _eval_callable_h(parsed.func, tl[0], args)
        if n is not None:
            check_dims(h0, n, "H(t0, args)", ref)
        terms, func = (), parsed.func
    else:
        terms, func = parsed, None
        for i, term in enumerate(terms):
            if n is not None:
                check_dims(term.op, n, "H" if len(terms) == 1 else f"H[{i}]", ref)
    _check_coefficients(terms, [], tl, args)
    _check_hamiltonian_hermitian(terms, func, tl, args)
    return terms, func


def check_method(meth: Method | None, problem: Problem, *, closed: bool) -> Method:
    """``method="auto"`` resolved (Expm for a constant generator, else Tsit5) and checked."""
    time_dep = problem.time_dependent_h or problem.time_dependent_c_ops or problem.callable_h
    if meth is None:
        meth = Tsit5() if time_dep else Expm()
    if _linear.kernel(meth) is None:
        able = _or_list([k for k, c in METHODS.items() if _linear.kernel(c()) is not None])
        raise ValueError(f"method={meth.name!r} cannot integrate this equation; use {able}")
    if isinstance(meth, type(get_method("magnus4"))) and not closed:
        raise ValueError("method='magnus4' propagates closed systems only (c_ops given); use 'expm' for a constant "
                         "Liouvillian, or 'tsit5', 'dopri5', 'kvaerno5' or 'rk4'")
    meth.check_supports(problem)
    return meth


def not_reached(what: str, meth: Method, tl: np.ndarray) -> str:
    return (f"{what}: method {meth!r} did not reach t={tl[-1]} (the step limit was hit or the step size "
            "underflowed); raise max_steps or loosen rtol/atol")

