"""``jax.jit`` with per-executable XLA options for the master-equation solves.

XLA's newer CPU fusion emitters (the default of recent jaxlibs) emit the small elementwise loops
of an explicit Runge–Kutta solve (the stage sums ``y + h Σ a_ij k_j``, the banded and ELL
right-hand sides' loops) as slower code than the classic elemental emitter at the sizes of a
master-equation state (``benchmarks/solve_options_ab.py --cases micro``: ``y + h k`` on a
2 × 81 × 81 state ~3× slower; ``benchmarks/RESULTS.md``, issue 15, 2026-12-06 22:22–23:14 UTC).
With
``xla_cpu_use_fusion_emitters=False`` for the executable of one solve, the warm CPU time of
``mesolve`` fell by 7–25 % on the dense engine (n = 20, 50, 100, tsit5 and dop853) and by ~7 % on
the driven sparse D = 81 lattice; on the constant sparse rows it fell by 7–13 % before the ELL
right-hand side skipped its zero real/imaginary parts, and is neutral since
(``benchmarks/solve_options_ab.py``). Step counts are the same; final states equal to the last
bit (sparse) or within 7e-15 relative (dense). It is set per executable
(``jax.jit(..., compiler_options=...)``), not through ``XLA_FLAGS``, and only for the explicit
Runge–Kutta methods (``Method.tuned_compile``): mcsolve's trajectories were 12 % *slower* with
it, and kvaerno5 scattered too much to tell; they keep XLA's defaults.

A jaxlib that does not know the option (older than the fusion emitters) rejects it when it
compiles; :class:`TunedJit` then falls back, once and for the rest of the process, to the plain
``jax.jit`` of the same function. On a GPU the option is a field of XLA's debug options that
the GPU compiler does not read (not yet checked on a device: none was lent).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

import jax

SOLVE_OPTIONS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False}

_trace = threading.local()


def classic_emitter() -> bool:
    """True while a function is being traced for an executable that :class:`TunedJit` compiles
    with ``xla_cpu_use_fusion_emitters=False`` (XLA's classic CPU emitter).

    Code that XLA compiles best in different forms under the two emitters asks this at trace time
    (``_rk._err_norm``: its reduction, emitted by the classic emitter, is faster than YNNPACK's
    there, but slower than YNNPACK's under the fusion emitters).

    Example:
        >>> classic_emitter()
        False
        >>> with classic_emitter_trace():
        ...     classic_emitter()
        True
    """
    return getattr(_trace, "depth", 0) > 0


@contextlib.contextmanager
def classic_emitter_trace() -> Iterator[None]:
    """Mark what is traced inside as compiled with the classic emitter (see :func:`classic_emitter`)."""
    _trace.depth = getattr(_trace, "depth", 0) + 1
    try:
        yield
    finally:
        _trace.depth -= 1


def _traced_classic(fun: Callable) -> Callable:
    @functools.wraps(fun)
    def traced(*args: Any, **kwargs: Any):
        with classic_emitter_trace():
            return fun(*args, **kwargs)

    return traced


class TunedJit:
    """``jax.jit(fun, compiler_options=options, **kw)`` for the calls that ``when(*args, **kwargs)``
    selects (all calls if ``when`` is None), the plain ``jax.jit(fun, **kw)`` for the others, and
    for all calls once the installed jaxlib has rejected one of ``options``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = TunedJit(lambda x: 2.0 * x, {"xla_cpu_no_such_option": True})
        >>> float(f(jnp.asarray(1.5)))  # rejected option: the plain jit is used instead
        3.0
        >>> f.fell_back
        True
    """

    def __init__(self, fun: Callable, options: dict[str, Any] | None = None,
                 when: Callable[..., bool] | None = None, **jit_kwargs: Any):
        self._plain = jax.jit(fun, **jit_kwargs)
        opts = dict(SOLVE_OPTIONS if options is None else options)
        classic = opts.get("xla_cpu_use_fusion_emitters") is False
        self._tuned = jax.jit(_traced_classic(fun) if classic else fun, compiler_options=opts, **jit_kwargs)
        self._when = when
        self.fell_back = False
        functools.update_wrapper(self, fun)

    def _pick(self, args: tuple, kwargs: dict):
        if self.fell_back or (self._when is not None and not self._when(*args, **kwargs)):
            return self._plain
        return self._tuned

    def __call__(self, *args: Any, **kwargs: Any):
        f = self._pick(args, kwargs)
        try:
            return f(*args, **kwargs)
        except jax.errors.JaxRuntimeError as err:
            if f is self._plain or "No such compile option" not in str(err):
                raise
            self.fell_back = True
            return self._plain(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any):
        """``jax.jit(...).lower`` of the variant that this call would use."""
        return self._pick(args, kwargs).lower(*args, **kwargs)

    def _cache_size(self) -> int:
        return self._plain._cache_size() + self._tuned._cache_size()

    def clear_cache(self) -> None:
        self._plain.clear_cache()
        self._tuned.clear_cache()


def solve_jit(**jit_kwargs: Any) -> Callable[[Callable], TunedJit]:
    """Decorator for the engine's programs ``f(st, ...)``: :class:`TunedJit` with
    :data:`SOLVE_OPTIONS` where ``st.method.tuned_compile`` (the explicit Runge–Kutta methods,
    where they were measured), XLA's defaults otherwise; ``jit_kwargs`` as for ``jax.jit``."""
    return lambda fun: TunedJit(fun, None, lambda st, *a, **k: bool(st.method.tuned_compile), **jit_kwargs)
