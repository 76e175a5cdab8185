"""``mesolve``: the Lindblad master equation, QuTiP's call order, JAX underneath."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config, _validate
from .._validate import args_dict, broadcast_batch, time_grid
from . import _engine, _ops
from . import sparse as _sparse
from ._convert import as_density_matrix, check_dims, check_finite, check_hermitian, qobj_dims, to_numpy
from .methods import AUTO_EXPM_MAX_N, METHODS, Method, Problem, Tsit5, _or_list, auto_method, check_keywords, get_method  # noqa: F401
from .result import Result
from .timedep import CallableOperator, Coefficient, Term, function_name, parse_operator, sample

__all__ = ["mesolve"]

_OPTION_ALIASES = {
    "method": "method",
    "rtol": "rtol",
    "atol": "atol",
    "dt": "dt",
    "store_states": "store_states",
    "progress": "progress",
    "progress_bar": "progress",
    "nsteps": "max_steps",
    "max_steps": "max_steps",
    "normalize": "normalize",
}
MEMORY_FRACTION = 0.8  # refuse a call whose estimate exceeds this fraction of the free memory


def _c_list(c_ops: Any) -> list:
    """``c_ops`` as a list: ``None`` -> ``[]``, one operator -> ``[op]``; anything else is refused."""
    if c_ops is None:
        return []
    if isinstance(c_ops, (np.ndarray, jax.Array)) or type(c_ops).__name__ == "Qobj":
        return [c_ops]
    if isinstance(c_ops, (list, tuple)):
        return list(c_ops)
    raise TypeError(f"c_ops must be a list of collapse operators, got {type(c_ops).__name__}")


def mesolve(
    H: Any,
    rho0: Any,
    tlist: Any,
    c_ops: Any = None,
    *,
    e_ops: Any = None,
    args: dict | None = None,
    method: str | Method = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    dt: float | None = None,
    store_states: bool = True,
    progress: bool = False,
    normalize: bool = False,
    max_steps: int | None = None,
    on_save: Callable[[int, float, np.ndarray, Any], Any] | None = None,
    chunk: int | None = None,
    options: dict | None = None,
    backend: str = "jax",
    format: str | None = None,
) -> Result:
    """Solve the Lindblad master equation ``dρ/dt = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ})``.

    Units: ħ = 1; ``H`` in energy units, times in inverse energy units, collapse operators
    ``L_k = sqrt(rate) * O`` in sqrt(energy). Precision float64/complex128.

    Args:
        H: Hamiltonian (..., n, n) as NumPy/JAX array or QuTiP ``Qobj``; or QuTiP's list format
            ``[H0, [H1, f1], ...]`` with coefficients ``f(t)`` or ``f(t, args)`` (chosen by
            signature; written with ``jax.numpy``, since they run inside compiled code, see
            :mod:`nephlab.quantum.timedep`) or arrays sampled on ``tlist``; or a callable
            ``H(t)`` / ``H(t, args) -> (n, n)``. Leading axes are batch axes.
        rho0: initial density matrix (..., n, n) or ket (n,) / (n, 1). Must have unit trace and
            be positive semidefinite unless ``normalize=True`` (which rescales the trace/norm).
        tlist: strictly increasing times (T,) at which results are saved; integration starts at
            ``tlist[0]``.
        c_ops: list of collapse operators, each (..., n, n) or in the list format.
        e_ops: list (or dict) of operators (n, n) whose expectation values are recorded.
        args: dict passed to coefficient functions written as ``f(t, args)``.
        method: ``"auto"``, a registered name (``"dopri5"``, ``"tsit5"``, ``"dop853"``, ``"kvaerno5"``,
            ``"rk4"``, ``"expm"``, ``"magnus4"``, see ``nephlab.quantum.methods.METHODS``) or a
            method object carrying its options, e.g. ``RK4(dt=0.01)``, ``Tsit5(rtol=1e-8)``.
        rtol, atol: tolerances of the adaptive methods (relative, absolute per entry; default
            1e-6 and 1e-8); they fill the method's options and are ignored by methods without
            tolerances. A value that differs from the method object's own is a ValueError.
        dt: step of the fixed-step methods (``rk4``, ``magnus4``; required by them, refused by
            the others); fills the method's ``dt`` like the tolerances.
        store_states: keep ρ(t) at every time (``Result.states``); the final state is always kept.
        progress: print a progress bar to stderr.
        normalize: rescale a ``rho0`` whose trace (or ket norm) is not 1 instead of raising.
        max_steps: step limit of the adaptive methods (default 100000).
        on_save: streaming hook, ``on_save(index, t, state, expect)``, called on the host for
            every saved time, in order, as soon as it is computed: ``index`` into ``tlist``,
            ``t = tlist[index]``, ``state`` = ρ(t) (batch + (n, n), given whatever
            ``store_states`` says) and ``expect`` (the values at t in the form of
            ``Result.expect``: a list or dict of batch-shaped values, or None without e_ops).
            The solve then runs in compiled chunks of ``chunk`` saved times, each continuing
            the previous one's integrator state exactly (no restart), so the states are those
            of one call (to round-off, ~1e-15). Returning ``True`` stops the solve after that
            time; the Result then ends there (``stats["stopped"]`` is True). An exception
            raised by ``on_save`` propagates. With ``store_states=False`` memory stays bounded
            by a chunk, however long ``tlist`` is.
        chunk: saved times per compiled call when streaming (only with ``on_save``; default
            about 1/32 of ``tlist``, at most 32 MB of states); the chunk program compiles once.
        options: QuTiP-style dict of the options above (``nsteps``, ``progress_bar`` accepted);
            unknown keys raise ValueError.
        backend: ``"jax"`` (default, this engine), or ``"numpy"`` / ``"cupy"``: the sparse
            array-module solver :func:`nephlab.quantum.xp.mesolve_xp` (SciPy on the CPU, CuPy
            on a GPU; constant operators, one system, methods ``rk4``/``tsit5``/``dopri5``).
        format: operator storage. ``None``/``"auto"``: ``"sparse"`` for H and c_ops given as
            single operators (array, ``scipy.sparse`` matrix or ``Qobj``) or in the list format
            of such operators (time-dependent ``H0 + Σ f_j(t) H_j``, ``c(t) = Σ g_j(t) C_j``)
            with n >= :data:`nephlab.quantum.sparse.SPARSE_MIN_N` when the inputs are sparse
            (scipy.sparse, ``Qobj`` with CSR/Dia data) or at most 5 % full and the method is
            rk4, tsit5, dopri5, dop853 or auto (then tsit5, or dop853 at rtol <= 1e-8), and they occupy more than 8 diagonals
            (a single oscillator's 3 run faster banded); else ``"dense"``. ``"sparse"``: operators
            stay in coordinate format (never densified), the right-hand side costs
            O(nnz · n) per evaluation (time-dependent terms: their values are combined on the
            union of their patterns, O(J · nnz), then one product), ρ is stored densely;
            rk4/tsit5/dopri5/dop853/vern7 only, and a callable ``H(t, args)`` or batched operators
            are a ValueError. ``"dense"``: the banded ("dia") or dense engine. ``stats["format"]``
            names what ran.

    Returns:
        :class:`Result` with ``times`` (T,), ``expect`` (one array per e_op, batch + (T,), real
        for Hermitian e_ops), ``states`` (batch + (T, n, n) or None), ``final_state``,
        ``method`` and ``stats``; ``Result.to_qutip()`` gives ``Qobj`` states with the dims of
        the ``Qobj`` inputs.

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, fock_dm
        >>> a = destroy(2)
        >>> res = nephlab.mesolve(a.T @ a, fock_dm(2, 1), np.linspace(0, 1, 11), [np.sqrt(0.5) * a],
        ...                       e_ops=[a.T @ a])
        >>> bool(abs(res.expect[0][-1] - np.exp(-0.5)) < 1e-6)
        True

        A driven lattice on the sparse format (3 Kerr cavities, D = 27, built without a dense
        matrix; a Gaussian pulse on site 0):

        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.sparse import embed
        >>> al = [embed(np.diag(np.sqrt([1.0, 2.0]), 1), k, [3, 3, 3]) for k in range(3)]
        >>> H0 = sum(0.5 * x.T @ x.T @ x @ x for x in al) + 0.2 * (al[0].T @ al[1] + al[1].T @ al[0])
        >>> H = [H0, [al[0] + al[0].T, lambda t: 0.8 * jnp.exp(-(t - 1.0) ** 2 / 0.18)]]
        >>> rho_v = np.zeros((27, 27)); rho_v[0, 0] = 1.0
        >>> res = nephlab.mesolve(H, rho_v, np.linspace(0, 2, 5), [np.sqrt(0.1) * x for x in al],
        ...                       e_ops=[al[0].T @ al[0]], method="rk4", dt=0.05, format="sparse")
        >>> res.stats["format"], bool(0.1 < res.expect[0][-1] < 1.0)
        ('sparse', True)

        Streaming (each saved time reaches the callback while the solve runs):

        >>> seen = []
        >>> res = nephlab.mesolve(a.T @ a, fock_dm(2, 1), np.linspace(0, 1, 11), [np.sqrt(0.5) * a],
        ...                       e_ops=[a.T @ a], on_save=lambda i, t, rho, ex: seen.append(float(ex[0])), chunk=4)
        >>> len(seen), bool(abs(seen[-1] - np.exp(-0.5)) < 1e-6)
        (11, True)
    """
    if not (isinstance(backend, str) and backend == "jax"):
        from .xp import mesolve_backend

        return mesolve_backend(backend, H, rho0, tlist, c_ops, e_ops=e_ops, method=method, rtol=rtol, atol=atol,
                               dt=dt, store_states=store_states, max_steps=max_steps, args=args, on_save=on_save,
                               chunk=chunk, options=options, normalize=normalize, progress=progress,
                               format=None if format in (None, "auto", "sparse") else format)  # always sparse
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - set(_OPTION_ALIASES))
        if unknown:
            raise ValueError(f"options has unknown key(s) {unknown}; allowed: {sorted(_OPTION_ALIASES)}")
        loc = dict(method=method, rtol=rtol, atol=atol, dt=dt, store_states=store_states,
                   progress=progress, max_steps=max_steps, normalize=normalize)
        for k, v in options.items():
            loc[_OPTION_ALIASES[k]] = v
        method, rtol, atol, dt = loc["method"], loc["rtol"], loc["atol"], loc["dt"]
        store_states, progress, max_steps, normalize = loc["store_states"], loc["progress"], loc["max_steps"], loc["normalize"]

    t_start = time.perf_counter()
    tl = time_grid(tlist, "tlist")
    _check_on_save(on_save, chunk)
    args = jargs = args_dict(args)
    keywords = check_keywords(rtol=rtol, atol=atol, max_steps=max_steps, dt=dt)
    meth = get_method(method)

    rho = as_density_matrix(rho0, "rho0", normalize=bool(normalize))
    n = rho.shape[-1]
    dims = qobj_dims([("rho0", rho0), ("H", H), ("c_ops", c_ops), ("e_ops", e_ops)])
    c_list = _c_list(c_ops)
    use_sparse = _use_sparse(_check_format(format), H, c_list, meth, n)
    if use_sparse and meth is None:
        meth = Tsit5()
    # sparse: every operator CSR from here on (never densified); dense: NumPy arrays
    h_parsed = parse_operator(H, "H", tl, sparse=use_sparse)
    c_parsed = [parse_operator(c, f"c_ops[{i}]", tl, allow_callable=False, sparse=use_sparse)
                for i, c in enumerate(c_list)]

    h_callable = None
    if isinstance(h_parsed, CallableOperator):
        h_callable = h_parsed.func
        h0 = _eval_callable_h(h_callable, tl[0], args)
        check_dims(h0, n, "H(t0, args)", "rho0")
        h_terms: tuple = ()
    else:
        h_terms = h_parsed
        for i, term in enumerate(h_terms):
            check_dims(term.op, n, "H" if len(h_terms) == 1 else f"H[{i}]", "rho0")
    for i, terms in enumerate(c_parsed):
        for j, term in enumerate(terms):
            check_dims(term.op, n, f"c_ops[{i}]" if len(terms) == 1 else f"c_ops[{i}][{j}]", "rho0")
    _check_coefficients(h_terms, c_parsed, tl, args)
    splines: list = []
    # sparse: what depends on the operators alone, looked up by their content (built lazily)
    prep = _sparse_prep(h_terms, c_parsed, splines) if use_sparse else None
    _check_hamiltonian_hermitian(h_terms, h_callable, tl, args, memo=None if prep is None else prep.memo)

    e_list, e_keys = _parse_eops(e_ops, n, sparse=use_sparse)

    time_dep_h = h_callable is not None or any(t.coeff is not None for t in h_terms)
    time_dep_c = any(t.coeff is not None for terms in c_parsed for t in terms)
    batch_shape = _broadcast_batches(rho, h_terms, c_parsed)
    n_batch = int(np.prod(batch_shape)) if batch_shape else 1
    uniform = _is_uniform(tl)
    problem = Problem(
        n=n, batch=n_batch, n_times=len(tl), n_c_ops=len(c_parsed), n_eops=len(e_list),
        store_states=bool(store_states), uniform=uniform,
        h_batched=any(t.op.ndim > 2 for t in h_terms), c_ops_batched=any(t.op.ndim > 2 for ts in c_parsed for t in ts),
        time_dependent_h=time_dep_h, time_dependent_c_ops=time_dep_c, callable_h=h_callable is not None,
        rtol=keywords.get("rtol"),
        **(prep.sizes() if use_sparse else _dense_nnz(h_terms, c_parsed, n)),
    )
    if meth is None:
        meth = auto_method(problem)
    meth.check_supports(problem)
    meth = meth.configure(**keywords)
    if on_save is not None:
        if not type(meth).streams():
            able = _or_list([k for k, c in METHODS.items() if c.streams()])
            raise ValueError(f"on_save needs a method that runs in chunks; method={meth.name!r} does not, use {able}")
        chunk = _default_chunk(len(tl), n, n_batch) if chunk is None else min(chunk, len(tl) - 1)
        if not store_states:  # the device holds one chunk of states, the host none
            problem = dataclasses.replace(problem, n_times=chunk + 1, store_states=True)
    _check_memory(meth, problem)

    device = _config.device()
    if use_sparse:
        st, dyn = _assemble_sparse(meth.static(), n, h_terms, h_callable, c_parsed, rho, splines, prep=prep)
    else:
        st, dyn = _ASSEMBLE[meth.operator_form](meth.static(), n, h_terms, h_callable, c_parsed, rho, splines)
    st = _replace(st, n_eops=len(e_list), store_states=bool(store_states), uniform=uniform if meth.uniform_grid else True,
                  progress=bool(progress))
    # Plain NumPy leaves: the jitted call moves them to the device in one go (creating a JAX
    # array per leaf here would cost a dispatch each).
    dyn["splines"] = [(np.asarray(k), np.asarray(c)) for k, c in splines]
    dyn["tlist"] = tl
    dyn["t_frame"] = np.float64(tl[0])  # the interaction frame (if any) is the lab frame at tlist[0]
    dyn["eops"] = (_sparse_eops(e_list) if use_sparse else
                   np.stack(e_list) if e_list else np.zeros((0, n, n), np.complex128))
    dyn["args"] = jargs
    dyn.update(meth.dynamic_values())

    dyn, in_axes = _flatten_batch(dyn, batch_shape, _batch_ndims(dyn, batch_shape))
    if device != jax.devices()[0]:
        dyn = jax.device_put(dyn, device)
    batched = bool(batch_shape)
    herm = _hermitian_flags(e_list)
    stopped = None
    if on_save is None:
        saved, final, stats = _engine.solve(st, dyn, in_axes=in_axes, batched=batched)
        final = jax.block_until_ready(final)
        expect = None
        if e_list:
            ex = np.asarray(saved["expect"])  # (B?, T, n_e)
            expect = _expect_values(ex.reshape(batch_shape + ex.shape[-2:]), herm, e_keys)
        states = saved["state"].reshape(batch_shape + saved["state"].shape[-3:]) if store_states else None
        final = final.reshape(batch_shape + (n, n))
    else:
        stream = _Stream(st, dyn, in_axes, batched, tl, batch_shape, herm, e_keys, bool(store_states))
        stats, stopped = stream.run(on_save, chunk, meth)
        states, final, expect = stream.states, stream.final, stream.expect
        tl = tl[: stream.n_done]
    wall = time.perf_counter() - t_start
    stats_out = {k: _to_host(v, batch_shape) for k, v in stats.items()}
    if stopped is None and not bool(np.all(stats_out["success"])):
        raise _not_reached(meth, tl)
    stats_out.pop("success")
    stats_out.update(method=meth.name, wall_time=wall, device=_config.device_name(),
                     format=meth.stats_format or st.fmt, interaction_frame=st.frame)
    if on_save is not None:
        stats_out.update(stopped=stopped is not None, chunk=chunk)
    return Result(times=tl, expect=expect, states=states, final_state=final, method=meth.name,
                  stats=stats_out, batch_shape=tuple(batch_shape), e_keys=e_keys, dims=dims)


def _not_reached(meth: Method, tl: np.ndarray) -> RuntimeError:
    stiff = _or_list([k for k, c in METHODS.items() if c.stiff and k != meth.name])
    return RuntimeError(
        f"mesolve: method {meth!r} did not reach t={tl[-1]} (the step limit was hit or the step size "
        f"underflowed); raise max_steps, loosen rtol/atol" + (f", or try method={stiff} for stiff problems" if stiff else "")
    )


def _expect_values(ex: np.ndarray, herm: list[bool], e_keys):
    """Expectation values in ``Result.expect``'s form from ``ex`` (..., n_e) complex."""
    vals = [ex[..., k].real if h else ex[..., k] for k, h in enumerate(herm)]
    return dict(zip(e_keys, vals)) if e_keys is not None else vals


# ---------------------------------------------------------------------------------------------
# streaming (on_save)
# ---------------------------------------------------------------------------------------------

STREAM_CHUNKS = 32  # default: about this many chunks per solve
STREAM_CHUNK_BYTES = 32 * 2**20  # ... with at most this much of states per chunk


def _check_on_save(on_save, chunk) -> None:
    if on_save is None:
        if chunk is not None:
            raise ValueError(f"chunk={chunk!r} is only used with on_save (streaming); give on_save=... or drop chunk")
        return
    if not callable(on_save):
        raise TypeError(f"on_save must be a callable on_save(index, t, state, expect), got {type(on_save).__name__}")
    try:
        sig = inspect.signature(on_save)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        sig = None
    if sig is not None:
        try:
            sig.bind(0, 0.0, None, None)
        except TypeError:
            raise TypeError(
                f"on_save must accept four positional arguments (index, t, state, expect); "
                f"{function_name(on_save)} has the signature {sig}") from None
    if chunk is not None:
        _validate.integer(chunk, "chunk")


def _default_chunk(T: int, n: int, n_batch: int) -> int:
    """About 1/STREAM_CHUNKS of the saved times, at most STREAM_CHUNK_BYTES of states."""
    fit = STREAM_CHUNK_BYTES // (16 * n * n * n_batch)
    return int(max(1, min(T - 1, -(-(T - 1) // STREAM_CHUNKS), fit)))


class _Stream:
    """Runs a solve chunk by chunk and hands each saved time to the caller (``mesolve(on_save=...)``).

    The kernel pieces (``_engine.stream_start/advance/finish``) continue the integrator state
    from chunk to chunk; the states are kept on the host (``states``) only when asked for.
    """

    def __init__(self, st, dyn, in_axes, batched, tl, batch_shape, herm, e_keys, store_states):
        self.st = _replace(st, store_states=True)  # the callback sees ρ(t) in every case
        self.dyn, self.tl, self.bshape = dyn, tl, tuple(batch_shape)
        self.herm, self.e_keys = herm, e_keys
        self.kw = dict(in_axes=in_axes, batched=batched, aux_ax=_engine.aux_axis(self.st, dyn, in_axes, batched))
        n, T = st.n, len(tl)
        self.states = np.empty(self.bshape + (T, n, n), np.complex128) if store_states else None
        self.ex = np.empty(self.bshape + (T, len(herm)), np.complex128) if herm else None
        self.n_done = 0
        self.final = None

    @property
    def expect(self):
        if self.ex is None:
            return None
        return _expect_values(self.ex[..., : self.n_done, :], self.herm, self.e_keys)

    def _host(self, saved, rows: int) -> tuple:
        """Saved arrays (B?, rows, ...) -> states batch + (rows, n, n), expect batch + (rows, n_e)."""
        rho = np.asarray(saved["state"]).reshape(self.bshape + (rows,) + saved["state"].shape[-2:])
        ex = np.asarray(saved["expect"]).reshape(self.bshape + (rows, len(self.herm))) if self.herm else None
        return rho, ex

    def _deliver(self, on_save, j0: int, rho, ex) -> int | None:
        """Keep and hand over the saved times j0, j0+1, ...; the index the caller stopped at, or None."""
        for r in range(rho.shape[-3]):
            j = j0 + r
            state = rho[..., r, :, :]
            if self.states is not None:
                self.states[..., j, :, :] = state
            values = None
            if ex is not None:
                self.ex[..., j, :] = ex[..., r, :]
                values = _expect_values(ex[..., r, :], self.herm, self.e_keys)
            self.n_done, self.final = j + 1, state
            if on_save(j, float(self.tl[j]), state, values) is True:
                return j
        return None

    def run(self, on_save, chunk: int, meth: Method) -> tuple:
        """Solve; returns ``(stats, stopped_index_or_None)``."""
        st, dyn, kw, T = self.st, self.dyn, self.kw, len(self.tl)
        aux, carry, first = _engine.stream_start(st, dyn, **kw)
        stopped = self._deliver(on_save, 0, *self._host(first, 1))
        j0 = 1
        while stopped is None and j0 < T:
            carry, saved = _engine.stream_advance(st, dyn, aux, carry, j0, chunk, **kw)
            stop = min(j0 + chunk, T)
            if np.any(np.asarray(carry["idx"]) < stop):
                raise _not_reached(meth, self.tl)
            rho, ex = self._host(saved, chunk)
            stopped = self._deliver(on_save, j0, rho[..., : stop - j0, :, :], None if ex is None else ex[..., : stop - j0, :])
            j0 = stop
        _, stats = _engine.stream_finish(st, dyn, aux, carry, **kw)
        if self.states is not None:
            self.states = self.states[..., : self.n_done, :, :]
        self.final = np.array(self.final)
        return stats, stopped


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------


def _broadcast_batches(rho, h_terms, c_parsed) -> tuple:
    shapes = {"rho0": rho.shape[:-2]}
    for i, t in enumerate(h_terms):
        shapes["H" if len(h_terms) == 1 else f"H[{i}]"] = t.op.shape[:-2]
    for i, ts in enumerate(c_parsed):
        for j, t in enumerate(ts):
            shapes[f"c_ops[{i}]" if len(ts) == 1 else f"c_ops[{i}][{j}]"] = t.op.shape[:-2]
    return broadcast_batch(shapes.items())


def _is_uniform(tl: np.ndarray) -> bool:
    d = np.diff(tl)
    return bool(np.all(np.abs(d - d[0]) <= 1e-12 * max(1.0, abs(d[0]), float(np.abs(tl).max()))))


def _eval_callable_h(f, t, args) -> np.ndarray:
    h = sample(f, [t], args, f"H (the callable `{function_name(f)}`)")[0].astype(np.complex128)
    if h.ndim != 2 or h.shape[0] != h.shape[1]:
        raise ValueError(f"H(t, args) must return a square (n, n) matrix, got shape {h.shape}")
    check_finite(h, f"H(t={t}, args)")
    return h


def _coefficient_values(c: Coefficient, tl: np.ndarray, args) -> np.ndarray:
    """A callable coefficient on every time of tlist (one cached, vectorised call)."""
    return sample(c.func, tl, args, c.name).astype(np.complex128)


def _check_coefficients(h_terms, c_parsed, tl, args) -> None:
    for terms in [h_terms] + list(c_parsed):
        for term in terms:
            if term.coeff is None or term.coeff.kind != "func":
                continue
            vals = _coefficient_values(term.coeff, tl, args)
            name = term.coeff.name
            if vals.shape != tl.shape:
                raise ValueError(f"{name} must return a scalar, got shape {vals.shape[1:]}")
            bad = ~np.isfinite(vals)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{name} is {vals[i]} (not finite) at t={tl[i]}; coefficients must be finite on tlist")


def _check_hamiltonian_hermitian(h_terms, h_callable, tl, args, memo: dict | None = None) -> None:
    """H(t) must be Hermitian at every time of tlist (a callable H: at first, middle, last).

    ``memo``: a dict kept with these very operators (:class:`_SparsePrep`), in which the parts
    of the check that depend on the operators alone are kept for the next call."""
    if h_callable is not None:
        for i in sorted({0, len(tl) // 2, len(tl) - 1}):
            check_hermitian(_eval_callable_h(h_callable, tl[i], args), f"H(t={tl[i]:g})", "Hamiltonian")
        return
    if all(term.coeff is None for term in h_terms):
        if memo is None or not memo.get("hermitian"):
            check_hermitian(sum(term.op for term in h_terms), "H", "Hamiltonian")
        if memo is not None:
            memo["hermitian"] = True  # reached only when the check passed
        return
    # H(t) - H(t)† = Σ_j 2i Im c_j(t) S_j + 2 Re c_j(t) K_j with S_j, K_j the Hermitian and
    # anti-Hermitian parts of H_j: its Frobenius norm at every t is a quadratic form in the
    # coefficients, so checking all of tlist costs O(T J²) instead of O(T n²).
    from .timedep import eval_coefficient

    vals = np.stack([
        np.ones(len(tl), complex) if term.coeff is None else
        (_coefficient_values(term.coeff, tl, args) if term.coeff.kind == "func"
         else np.array([complex(np.asarray(eval_coefficient(term.coeff, jnp.asarray(t), args))) for t in tl]))
        for term in h_terms
    ])  # (J, T)
    if memo is not None and "hermitian_gram" in memo:
        G, norms = memo["hermitian_gram"]
    else:
        G, norms = _hermitian_gram([term.op for term in h_terms])
        if memo is not None:
            memo["hermitian_gram"] = (G, norms)
    x = np.concatenate([2 * vals.imag, 2 * vals.real])  # (2J, T)
    dev = np.sqrt(np.maximum(np.einsum("at,ab,bt->t", x, G, x), 0.0))
    scale = np.maximum(1.0, np.abs(vals).T @ norms)
    bad = dev > 1e-10 * scale
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"H(t={tl[i]:g}) must be Hermitian, but ||H - H†|| = {dev[i]:.3g} there; check that the "
            "coefficients of Hermitian terms are real (or pair each term with its Hermitian conjugate)"
        )


def _hermitian_gram(ops: list) -> tuple[np.ndarray, np.ndarray]:
    """``(G, norms)`` of :func:`_check_hamiltonian_hermitian`: the Gram matrix (2J, 2J) of the
    Hermitian and anti-Hermitian parts of the terms ``ops`` (batch summed) and their Frobenius norms (J,)."""
    if _sparse.sp.issparse(ops[0]):  # CSR terms (format="sparse"): sparse products, no dense copy
        def adj(o):
            return o.conj().T

        def inner(a, b):
            return float(np.real(a.conj().multiply(b).sum()))
    else:
        def adj(o):
            return np.conj(np.swapaxes(o, -1, -2))

        def inner(a, b):
            return float(np.real(np.sum(np.conj(a) * b)))
    S = [0.5 * (o + adj(o)) for o in ops]
    K = [0.5 * (o - adj(o)) for o in ops]
    M = S + K
    G = np.array([[inner(a, b) for b in M] for a in M])
    return G, np.array([np.sqrt(inner(o, o)) for o in ops])


def _parse_eops(e_ops, n, sparse: bool = False):
    if e_ops is None:
        return [], None
    keys = None
    if isinstance(e_ops, dict):
        keys = list(e_ops)
        items = [e_ops[k] for k in keys]
        names = [f"e_ops[{k!r}]" for k in keys]
    elif isinstance(e_ops, (list, tuple)):
        items = list(e_ops)
        names = [f"e_ops[{i}]" for i in range(len(items))]
    elif isinstance(e_ops, (np.ndarray, jax.Array)) or type(e_ops).__name__ == "Qobj" or _sparse.sp.issparse(e_ops):
        items, names = [e_ops], ["e_ops"]
    else:
        raise TypeError(f"e_ops must be a list or dict of operators, got {type(e_ops).__name__}")
    out = []
    for item, name in zip(items, names):
        if callable(item) and not isinstance(item, (np.ndarray, jax.Array)) and type(item).__name__ != "Qobj" and not _sparse.sp.issparse(item):
            raise TypeError(f"{name} is a callable; e_ops must be operators (n, n)")
        if sparse:  # kept sparse: scipy.sparse CSR
            arr = _sparse.as_sparse(item, name)
            check_dims(arr, n, name, "rho0")
            out.append(arr)
            continue
        arr = to_numpy(_sparse.densify(item), name)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a single operator of shape ({n}, {n}), got shape {arr.shape}")
        check_dims(arr, n, name, "rho0")
        check_finite(arr, name)
        out.append(arr)
    return out, keys


def _hermitian_flags(e_list):
    return [bool(abs(o - o.conj().T).max() <= 1e-12) if _sparse.sp.issparse(o) else
            bool(np.allclose(o, o.conj().T, atol=1e-12, rtol=0)) for o in e_list]


def estimate_memory_bytes(meth: str | Method, n: int, n_batch: int, T: int, store_states: bool, n_eops: int,
                          uniform: bool = True, *, n_c_ops: int = 1, h_batched: bool = True,
                          c_ops_batched: bool = True) -> int:
    """Peak memory (bytes) of a mesolve call: inputs, stored results and the method's workspace.

    The estimate is the method's own (:meth:`nephlab.quantum.methods.Method.memory_bytes`);
    ``mesolve`` compares it with the free memory of the device before it starts. ``n_c_ops``
    (number of collapse operators) defaults to 1, the conservative choice for methods that
    build a dissipator superoperator; ``h_batched``/``c_ops_batched`` say whether H and the
    collapse operators carry the batch axes (False: they are shared by the batch).

    Example:
        >>> estimate_memory_bytes("expm", n=10, n_batch=1, T=101, store_states=True, n_eops=1) < 4 * 2**20
        True
        >>> estimate_memory_bytes("magnus4", 100, 16, 101, True, 0, n_c_ops=0) < 1e9  # closed: no superoperator
        True
    """
    problem = Problem(n=n, batch=n_batch, n_times=T, n_c_ops=n_c_ops, n_eops=n_eops, store_states=bool(store_states),
                      uniform=uniform, h_batched=h_batched, c_ops_batched=c_ops_batched)
    return int((get_method(meth) or auto_method(problem)).memory_bytes(problem))


def _available_bytes() -> tuple[int, str]:
    dev = _config.device()
    if dev.platform != "cpu":
        try:
            ms = dev.memory_stats()
            return int(ms["bytes_limit"] - ms.get("bytes_in_use", 0)), f"{dev.platform} memory"
        except Exception:  # noqa: BLE001
            pass
    import psutil

    return int(psutil.virtual_memory().available), "free RAM"


def footprints(problem: Problem, meth: Method) -> dict:
    """Memory (bytes) of ``meth`` on ``problem`` with dense and with sparse operator storage,
    and of a ket trajectory (mcsolve: ``16 n`` per state).

    Example:
        >>> f = footprints(Problem(n=729, n_c_ops=6, fmt="sparse", op_nnz=13000, max_nnz=10000), get_method("rk4"))
        >>> f["operators_dense"] // 10**6, f["trajectory_state"]  # H and 6 jump operators, one ket
        (59, 11664)
    """
    dense = meth.memory_bytes(dataclasses.replace(problem, fmt="dense"))
    out = {"dense": int(dense), "operators_dense": int(problem.dense_operator_bytes() * problem.batch)}
    if problem.op_nnz:
        sparse = dataclasses.replace(problem, fmt="sparse")
        out.update(sparse=int(meth.memory_bytes(sparse)), operators_sparse=int(sparse.sparse_operator_bytes()))
    out["trajectory_state"] = 16 * problem.n
    return out


def _check_memory(meth: Method, problem: Problem) -> None:
    need = meth.memory_bytes(problem)
    if need < 64 * 2**20:  # small problems: skip the system query
        return
    avail, what = _available_bytes()
    if need > MEMORY_FRACTION * avail:
        fp = footprints(problem, meth)
        hint = []
        if problem.store_states:
            hint.append("store_states=False")
        if problem.fmt != "sparse" and type(meth).supports_sparse and "sparse" in fp and fp["sparse"] <= MEMORY_FRACTION * avail:
            hint.append(f"format='sparse' (about {fp['sparse'] / 1e9:.2g} GB)")
        elif problem.fmt != "sparse":
            hint.append("sparse operators (scipy.sparse or nephlab.quantum.sparse.tensor/embed) with format='sparse'")
        others = sorted((c().memory_bytes(problem), k) for k, c in METHODS.items()
                        if k != meth.name and c().unsupported(problem) is None
                        and (problem.fmt != "sparse" or c.supports_sparse))
        hint += [f"method={k!r} (about {b / 1e9:.1f} GB)" for b, k in others if b <= MEMORY_FRACTION * avail][:2]
        hint.append(f"trajectories with mcsolve (a ket of {fp['trajectory_state'] / 1e6:.2g} MB per trajectory)")
        hint.append("fewer batch elements per call, or a GPU/cluster profile with more memory (NEPHLAB_DEVICE=gpu)")
        sizes = f"dense operators {fp['dense'] / 1e9:.2g} GB" + (
            f", sparse operators {fp['sparse'] / 1e9:.2g} GB" if "sparse" in fp else "")
        raise ValueError(
            f"mesolve with method={meth.name!r}, n={problem.n}, batch={problem.batch}, {problem.n_times} times, "
            f"format={problem.fmt!r} would need about {need / 1e9:.1f} GB ({sizes}), but only {avail / 1e9:.1f} GB "
            f"of {what} is available; try " + ", ".join(hint)
        )


# ---------------------------------------------------------------------------------------------
# assembly
# ---------------------------------------------------------------------------------------------


def _spec(coeff: Coefficient | None, splines: list):
    if coeff is None:
        return None
    if coeff.kind == "func":
        return ("func", coeff.func)
    splines.append((coeff.knots, coeff.coeffs))
    return ("spline", len(splines) - 1)


def _generator_terms(h_terms, c_parsed, splines: list, zero, gram: Callable):
    """The pieces of ``A(t) = -i H(t) - ½ Σ_k L_k(t)† L_k(t)`` and of the ``L_k(t)``.

    Returns ``(h_const, d_const, a_terms, jump_specs, jump_ops)``: the constant part of H, the
    constant part of ``-½ Σ L†L``, the time-dependent A-terms ``[(spec, op)]`` (``-i H_j`` with
    coefficient f_j, ``-½ L_j† L_k`` with ``conj(g_j) g_k``), and per collapse operator its
    coefficient specs and operators. ``zero`` is the additive zero of the operator type and
    ``gram(x, y) = x† y`` (dense arrays with batch axes, or scipy.sparse matrices).
    """
    d_const = zero
    h_const = zero
    a_terms: list = []
    for term in h_terms:
        if term.coeff is None:
            h_const = h_const + term.op
        else:
            a_terms.append((_spec(term.coeff, splines), -1j * term.op))
    jump_specs, jump_ops = [], []
    for terms in c_parsed:
        specs = [_spec(t.coeff, splines) for t in terms]
        jump_specs.append(specs)
        jump_ops.append([t.op for t in terms])
        for sj, tj in zip(specs, terms):
            for sk, tk in zip(specs, terms):
                prod = -0.5 * gram(tj.op, tk.op)
                if sj is None and sk is None:
                    d_const = d_const + prod
                else:
                    a_terms.append((("prod", sj, sk), prod))
    return h_const, d_const, a_terms, jump_specs, jump_ops


def _dense_gram(x, y):
    # einsum, not @: NumPy's BLAS is slow for small matrices on some builds
    return np.einsum("...ji,...jk->...ik", np.conj(x), y)


def _assemble_ode(meth, n, h_terms, h_callable, c_parsed, rho, splines):
    # A-terms: -i H_j (coeff f_j) and -1/2 L_j† L_k (coeff conj(g_j) g_k); constants merged.
    zero = np.zeros((n, n), np.complex128)
    h_const, const, a_terms, jump_specs, jump_ops = _generator_terms(h_terms, c_parsed, splines, zero, _dense_gram)
    E = np.real(np.diagonal(h_const, axis1=-2, axis2=-1))
    frame = bool(meth.uses_frame and h_callable is None and np.ptp(E, axis=-1).max(initial=0.0) > 0)
    if frame:
        h_const = h_const - np.eye(n) * E[..., None, :]  # remove diag(E); handled exactly by the frame
    const = const + (-1j) * h_const
    if np.any(const != 0) or not a_terms:
        a_terms.insert(0, (None, const))
    mats = [op for _, op in a_terms] + [op for ops in jump_ops for op in ops]
    fmt, _ = _ops.choose_format(mats) if mats else ("dense", ())
    if fmt == "dia":
        a_offs = _ops.occupied_offsets([op for _, op in a_terms])
        a_data = [_ops.to_dia(op, a_offs) for _, op in a_terms]
        j_offs = tuple(_ops.occupied_offsets(ops) for ops in jump_ops)
        j_data = [[_ops.to_dia(op, offs) for op in ops] for ops, offs in zip(jump_ops, j_offs)]
    else:
        a_offs = ()
        a_data = [_ops.to_dense(op) for _, op in a_terms]
        j_offs = tuple(() for _ in jump_ops)
        j_data = [[_ops.to_dense(op) for op in ops] for ops in jump_ops]
    st = _engine.Structure(
        n=n, method=meth, fmt=fmt, a_offsets=a_offs, a_coeffs=tuple(s for s, _ in a_terms),
        jump_offsets=j_offs, jump_coeffs=tuple(tuple(s) for s in jump_specs), h_callable=h_callable,
        frame=frame, n_eops=0, store_states=True, uniform=True, progress=False,
    )
    dyn = {
        "a": a_data,
        "jumps": j_data,
        "E": E if frame else np.zeros(n),
        "rho0": np.stack([rho.real, rho.imag], axis=-3),
    }
    return st, dyn


FORMATS = ("auto", "dense", "sparse")
SPARSE_MAX_DENSITY = 0.05  # auto: dense array inputs go sparse only if at most this fraction is nonzero
# auto: the banded engine's cost grows with the number of occupied diagonals, and it integrates in
# the interaction frame of the diagonal (which removes the stiffness of Kerr spectra; the sparse
# format has no frame). Measured (warm, 2-core CPU, jax 0.10): a driven Kerr oscillator, 3
# diagonals, n = 100: banded 0.24 s (154 steps) vs sparse 15.8 s (14360 steps), n = 64: 0.10 s vs
# 1.5 s; the d = 3 Kerr lattice, D = 81 (15 diagonals): sparse 5x faster (tsit5), D = 729 (23
# diagonals): 3x. So auto goes sparse only above this many diagonals ...
SPARSE_MIN_OFFSETS = 8
# ... or, for sparse inputs, from this dimension on whatever their structure: there the n x n
# dense copies of the operators alone take 16 n^2 bytes each (268 MB at n = 4096).
SPARSE_ALWAYS_N = 4096


def _check_format(format: str | None) -> str:
    if format is None:
        return "auto"
    if not isinstance(format, str) or format.strip().lower() not in FORMATS:
        raise ValueError(f"format={format!r} is not a known operator format; allowed: None, " + ", ".join(map(repr, FORMATS)))
    return format.strip().lower()


def _use_sparse(fmt: str, H, c_list: list, meth: Method | None, n: int) -> bool:
    """Whether this call runs on the sparse operator format.

    ``format="sparse"`` asks for it (operators in a form the sparse format takes, see
    :func:`nephlab.quantum.sparse.sparse_operators`, and a method with ``supports_sparse``
    required); ``"dense"`` refuses it; ``"auto"`` takes it for such operators and a
    sparse-capable method (or ``method="auto"``, which then means tsit5 or dop853) when
    ``n >= sparse.SPARSE_MIN_N`` (the measured crossover with the banded engine, see there), the
    operators are sparse inputs or at most :data:`SPARSE_MAX_DENSITY` full, and they occupy more
    than :data:`SPARSE_MIN_OFFSETS` diagonals (fewer: the banded engine with its interaction
    frame is faster); sparse inputs with ``n >= SPARSE_ALWAYS_N`` always go sparse.
    """
    if fmt == "dense":
        return False
    const = _sparse.sparse_operators(H, c_list)
    able = meth is None or type(meth).supports_sparse
    if fmt == "sparse":
        if const is None:
            raise ValueError(
                "format='sparse' needs H and every c_ops entry as a single operator (array, scipy.sparse "
                "matrix or Qobj) or in QuTiP's list format [O0, [O1, f1], ...] of such operators; a callable "
                "H(t, args) and batched operators run with format='dense'"
            )
        if not able:
            ok = _or_list([k for k, c in METHODS.items() if c.supports_sparse])
            raise ValueError(f"format='sparse' runs with method={ok} or 'auto', not method={meth.name!r}")
        return True
    if const is None or not able or n < _sparse.SPARSE_MIN_N:
        return False
    ops, any_sparse = const
    if any_sparse and n >= SPARSE_ALWAYS_N:
        return True
    mats = [_sparse.as_sparse(o).tocoo() for o in ops]
    if not any_sparse and sum(m.nnz for m in mats) > SPARSE_MAX_DENSITY * n * n * len(ops):
        return False
    offsets = set()
    for m in mats:
        offsets.update(np.unique(m.col.astype(np.int64) - m.row).tolist())
    return len(offsets) > SPARSE_MIN_OFFSETS


def _sparse_gram(x, y):
    return (x.conj().T @ y).tocsr()


def _sparse_generator(h_terms, c_parsed, splines: list) -> tuple[list, list, list]:
    """``(a_terms, jump_specs, jump_ops)`` of the sparse format, all operators CSR: the constant
    part of ``A = -i H - ½ Σ L†L`` first (when nonzero), then the time-dependent terms."""
    n = (h_terms[0] if h_terms else c_parsed[0][0]).op.shape[-1]
    zero = _sparse.sp.csr_matrix((n, n), dtype=np.complex128)
    h_const, d_const, a_terms, jump_specs, jump_ops = _generator_terms(h_terms, c_parsed, splines, zero, _sparse_gram)
    const = (d_const - 1j * h_const).tocsr()
    const.eliminate_zeros()
    if const.nnz or not a_terms:
        a_terms.insert(0, (None, const))
    return a_terms, jump_specs, jump_ops


def _sparse_sizes(h_terms, c_parsed, generator: tuple | None = None) -> dict:
    """Sizes of the sparse format for the memory estimate; ``generator``: what
    :func:`_sparse_generator` returned for these operators, if already built."""
    a_terms, _, jump_ops = generator or _sparse_generator(h_terms, c_parsed, [])
    groups = [[op for _, op in a_terms]] + jump_ops
    pats = [_ops.union_pattern(ops) for ops in groups]
    nnz = sum(p.nnz * len(ops) for p, ops in zip(pats, groups))  # one value array per term on its union pattern
    return {"fmt": "sparse", "op_nnz": int(nnz), "max_nnz": max(_ops.gathered_rows(m) for m in pats)}


def _dense_nnz(h_terms, c_parsed, n: int) -> dict:
    """Nonzeros of dense constant operators (for the sparse footprint in memory messages)."""
    terms = list(h_terms) + [t for ts in c_parsed for t in ts]
    if n < _sparse.SPARSE_MIN_N or len(h_terms) != 1 or any(t.coeff is not None or t.op.ndim != 2 for t in terms) \
            or any(len(ts) != 1 for ts in c_parsed):
        return {}
    sp = _sparse.sp
    return {k: v for k, v in _sparse_sizes((Term(sp.csr_matrix(h_terms[0].op)),),
                                           [(Term(sp.csr_matrix(ts[0].op)),) for ts in c_parsed]).items() if k != "fmt"}


class _SparsePrep:
    """What the sparse format derives from the operators alone, each piece built on first use
    and kept: the generator (:func:`_sparse_generator`), its sizes (:func:`_sparse_sizes`), the
    layouts of A and of the collapse operators (:func:`._ops.sparse_sum`, per ``ket``) and, in
    ``memo``, the operator part of the Hermiticity check of H. A warm call with operators of the
    same content (see :func:`_sparse_prep`) reuses all of it: at D = 81 (``nephlab bench large
    --sizes 4``) rebuilding it took 4-5 ms of CPU per call (benchmarks/RESULTS.md, issue 15,
    2026-12-06 19:30 UTC)."""

    def __init__(self, h_terms, c_parsed, splines: list):
        self._args: tuple | None = (h_terms, c_parsed, splines)
        self._generator: tuple | None = None
        self._sizes: dict | None = None
        self._layouts: dict = {}
        self._lock = threading.RLock()  # calls from several threads (Dask workers) build each piece once
        self.memo: dict = {}

    def generator(self) -> tuple:
        with self._lock:
            if self._generator is None:
                self._generator = _sparse_generator(*self._args)
                self._args = None  # the generator holds what is needed of the operators
            return self._generator

    def sizes(self) -> dict:
        with self._lock:
            if self._sizes is None:
                self._sizes = _sparse_sizes((), [], self.generator())
            return dict(self._sizes)

    def layouts(self, ket: bool) -> tuple:
        """``(a, jumps)``: the layouts of A and of every collapse operator."""
        with self._lock:
            if ket not in self._layouts:
                a_terms, _, jump_ops = self.generator()
                self._layouts[ket] = (_ops.sparse_sum([op for _, op in a_terms], ket=ket),
                                      [_ops.sparse_sum(ops, jump=True) for ops in jump_ops])
            return self._layouts[ket]


SPARSE_PREP_CACHE = 8  # operator sets whose preparation mesolve keeps (least recently used dropped)
_SPARSE_PREPS: OrderedDict = OrderedDict()
_SPARSE_PREPS_LOCK = threading.Lock()


def _operators_key(h_terms, c_parsed) -> tuple | None:
    """A key that is equal exactly when the parsed sparse operators are: a digest of every
    term's CSR arrays (shape, row pointers, columns, values: the canonical form of
    :func:`nephlab.quantum.sparse.as_sparse`, so equal content gives equal bytes) and the
    coefficient functions themselves (compared as jit compares them). None when a term has a
    spline coefficient (its spec indexes this call's spline list) or is not CSR."""
    digest = hashlib.blake2b(digest_size=20)
    funcs = []
    for group in (h_terms, *c_parsed):
        digest.update(len(group).to_bytes(8, "little"))
        for term in group:
            op = term.op
            if (term.coeff is not None and term.coeff.kind != "func") or not _sparse.sp.isspmatrix_csr(op):
                return None
            for arr in (np.asarray(op.shape, np.int64), op.indptr, op.indices, op.data):
                arr = np.ascontiguousarray(arr)
                digest.update(arr.dtype.str.encode() + arr.size.to_bytes(8, "little"))
                digest.update(arr.tobytes())
            funcs.append(None if term.coeff is None else term.coeff.func)
    key = (digest.digest(), tuple(funcs))
    try:
        hash(key)
    except TypeError:  # an unhashable coefficient callable
        return None
    return key


def _sparse_prep(h_terms, c_parsed, splines: list) -> _SparsePrep:
    """The :class:`_SparsePrep` of these operators: the kept one for operators of the same
    content (:func:`_operators_key`), else a new one (kept, unless a coefficient is a spline)."""
    key = _operators_key(h_terms, c_parsed)
    if key is None:
        return _SparsePrep(h_terms, c_parsed, splines)
    with _SPARSE_PREPS_LOCK:
        prep = _SPARSE_PREPS.get(key)
        if prep is None:
            prep = _SparsePrep(h_terms, c_parsed, [])  # no spline coefficients: the list stays empty
            _SPARSE_PREPS[key] = prep
            while len(_SPARSE_PREPS) > SPARSE_PREP_CACHE:
                _SPARSE_PREPS.popitem(last=False)
        else:
            _SPARSE_PREPS.move_to_end(key)
        return prep


def _assemble_sparse(meth, n, h_terms, h_callable, c_parsed, rho, splines, ket: bool = False,
                     generator: tuple | None = None, prep: _SparsePrep | None = None):
    """Structure and data of the sparse format; ``ket``: ``rho`` is a ket (2, n, 1) column
    (mcsolve), whose products favour the diagonal layout (see :mod:`._ops`); ``generator``:
    what :func:`_sparse_generator` returned for these operators with ``splines``, if built;
    ``prep``: their :class:`_SparsePrep` (generator and layouts taken from there).

    ``A(t) = -i H(t) - ½ Σ L(t)†L(t)`` is stored as one layout of its terms' union pattern with
    per-term values, and so is each collapse operator (:func:`._ops.sparse_sum`): the right-hand
    side combines the values at each stage (O(J nnz)) and applies one product per operator."""
    if prep is not None:
        generator = prep.generator()
    a_terms, jump_specs, jump_ops = generator or _sparse_generator(h_terms, c_parsed, splines)
    herm = bool(np.array_equal(rho, np.conj(np.swapaxes(rho, -1, -2))))
    st = _engine.Structure(
        n=n, method=meth, fmt="sparse", a_offsets=(), a_coeffs=tuple(s for s, _ in a_terms),
        jump_offsets=tuple(() for _ in jump_ops), jump_coeffs=tuple(tuple(s) for s in jump_specs), h_callable=None,
        frame=False, n_eops=0, store_states=True, uniform=True, progress=False, hermitian=herm,
    )
    if prep is not None:
        a, jumps = prep.layouts(ket)
    else:
        a = _ops.sparse_sum([op for _, op in a_terms], ket=ket)
        jumps = [_ops.sparse_sum(ops, jump=True) for ops in jump_ops]
    dyn = {"a": a, "jumps": list(jumps), "E": np.zeros(n), "rho0": np.stack([rho.real, rho.imag], axis=-3)}
    return st, dyn


def _sparse_eops(e_list) -> dict:
    """The e_ops as one coordinate list: ``<E_k> = Σ_(r,c) E_k[r, c] ρ[c, r]`` summed per k."""
    import scipy.sparse as sp

    parts = [sp.coo_matrix(e) for e in e_list]
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return {"w": cat([p.data for p in parts], np.complex128), "r": cat([p.row for p in parts], np.int32),
            "c": cat([p.col for p in parts], np.int32),
            "k": cat([np.full(p.nnz, i) for i, p in enumerate(parts)], np.int32)}


def _assemble_dense(meth, n, h_terms, h_callable, c_parsed, rho, splines):
    Ls = [sum(t.op for t in terms) for terms in c_parsed]
    if Ls:
        bshape = np.broadcast_shapes(*[L.shape[:-2] for L in Ls])
        Ls_arr = np.stack([np.broadcast_to(L, bshape + (n, n)) for L in Ls], axis=-3)
    else:
        Ls_arr = np.zeros((0, n, n), np.complex128)
    dyn = {"Ls": Ls_arr, "rho0c": rho, "Hterms": [t.op for t in h_terms]}
    h_coeffs = tuple(_spec(t.coeff, splines) for t in h_terms)
    st = _engine.Structure(
        n=n, method=meth, fmt="dense", a_offsets=(), a_coeffs=(), jump_offsets=(), jump_coeffs=(),
        h_callable=h_callable, frame=False, n_eops=0, store_states=True, uniform=True, progress=False,
        h_terms=len(h_terms), h_coeffs=h_coeffs,
    )
    return st, dyn


# How mesolve prepares the operators for a method's kernel, by the form it declares.
_ASSEMBLE = {"split": _assemble_ode, "matrices": _assemble_dense}


def _replace(st, **kw):
    import dataclasses

    return dataclasses.replace(st, **kw)


# Number of trailing "core" axes of each dyn leaf (everything before them is batch).
_CORE_NDIM = {"a": 3, "jumps": 3, "E": 1, "rho0": 3, "Ls": 3, "rho0c": 2, "Hterms": 2}


def _batch_ndims(dyn, batch_shape):
    out = {}
    for key, val in dyn.items():
        core = _CORE_NDIM.get(key)
        out[key] = jax.tree_util.tree_map(lambda x: (np.ndim(x) - core) if core is not None else 0, val)
    return out


def _flatten_batch(dyn, batch_shape, bnd):
    """Broadcast batched leaves to batch_shape and flatten it to one axis; in_axes per leaf."""
    leaves, tree = jax.tree_util.tree_flatten(dyn)
    nds = jax.tree_util.tree_leaves(bnd)
    B = int(np.prod(batch_shape)) if batch_shape else 1
    new, axes = [], []
    for x, nd in zip(leaves, nds):
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        if batch_shape and nd > 0:
            core = x.shape[nd:]
            x = np.broadcast_to(np.asarray(x), tuple(batch_shape) + core).reshape((B,) + core)
            axes.append(0)
        else:
            axes.append(None)
        new.append(x)
    return jax.tree_util.tree_unflatten(tree, new), tuple(axes)


def _to_host(v, batch_shape):
    a = np.asarray(v)
    if batch_shape and a.ndim:
        a = a.reshape(batch_shape)
        return a
    return a.item() if a.ndim == 0 else a
