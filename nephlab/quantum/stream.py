"""Keep what a streamed :func:`nephlab.mesolve` call has produced so far (``on_save=Recorder(...)``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate
from .thermo import _entropy_core, _purity_core

__all__ = ["Recorder"]


@jax.jit
def _measures(rho):
    """Von Neumann entropy (nats) and purity of ρ in one dispatch (the cores of
    :func:`~nephlab.quantum.entropy_vn` and :func:`~nephlab.quantum.purity`, unchecked)."""
    return jnp.stack([_entropy_core(rho), _purity_core(rho)])


class Recorder:
    """An ``on_save`` callback for :func:`nephlab.mesolve` that records each saved time as it comes.

    The buffers are allocated once and filled in time order; the first ``n_done`` entries are
    valid, so another thread (a dashboard) may read ``states[:n_done]`` while the solve runs.

    Args:
        tlist: the saved times (T,) of the call.
        n: Hilbert-space dimension (one system: the call must not be batched).
        e_names: names of the ``e_ops`` of the call, in their order (the keys when e_ops is a dict).
        on_point: called as ``on_point(index)`` after each saved time is recorded; returning
            True stops the solve (``mesolve``'s stop), raising aborts it (e.g. a cancelled job).
        attrs: attributes of :meth:`to_dataset` (JSON-serialisable values).

    Attributes:
        times: (T,) the saved times.
        states: (T, n, n) complex states.
        expect: (n_e, T) complex expectation values (NaN until computed).
        entropy: (T,) von Neumann entropy in nats (of the solver's states, unchecked, like
            :meth:`nephlab.quantum.Result.entropy`).
        purity: (T,) Tr ρ².
        n_done: the number of saved times recorded so far.

    Example:
        >>> import numpy as np, nephlab
        >>> sm = np.array([[0, 0], [1, 0]], complex)
        >>> tl = np.linspace(0, 1, 5)
        >>> rec = Recorder(tl, 2, ["excited"])
        >>> _ = nephlab.mesolve(np.zeros((2, 2)), np.diag([1.0, 0.0]), tl, [sm], e_ops=[sm.T @ sm], on_save=rec)
        >>> rec.n_done, bool(abs(rec.expect[0, -1].real - np.exp(-1)) < 1e-10), round(float(rec.purity[0]), 12)
        (5, True, 1.0)
    """

    def __init__(self, tlist: Any, n: int, e_names: Sequence[str] = (), *, on_point: Callable[[int], Any] | None = None,
                 attrs: dict | None = None):
        self.times = _validate.time_grid(tlist, "tlist")
        n = _validate.integer(n, "n")
        if isinstance(e_names, str) or not all(isinstance(k, str) for k in e_names):
            raise TypeError(f"e_names must be a sequence of str, got {e_names!r}")
        if on_point is not None:
            _validate.function(on_point, "on_point", "on_point(index)")
        T = len(self.times)
        self.e_names = list(e_names)
        self.on_point = on_point
        self.attrs = dict(attrs or {})
        self.states = np.zeros((T, n, n), complex)
        self.expect = np.full((len(self.e_names), T), np.nan, complex)
        self.entropy = np.full(T, np.nan)
        self.purity = np.full(T, np.nan)
        self.n_done = 0

    def __call__(self, index: int, t: float, state: Any, expect: Any) -> Any:
        """Record saved time ``index`` (the ``on_save`` signature); returns ``on_point``'s answer."""
        rho = np.asarray(state)
        if rho.shape != self.states.shape[1:]:
            raise ValueError(f"Recorder holds one system of shape {self.states.shape[1:]}, got a state of shape "
                             f"{rho.shape}; a batched mesolve needs one Recorder per system")
        self.states[index] = rho
        if self.e_names:
            self.expect[:, index] = [expect[k] for k in self.e_names] if isinstance(expect, dict) else expect
        self.entropy[index], self.purity[index] = np.asarray(_measures(rho)) + 0.0  # + 0.0: no -0.0
        self.n_done = index + 1
        return None if self.on_point is None else self.on_point(index)

    def to_dataset(self):
        """The recorded part as an ``xarray.Dataset`` (real dtypes only): ``rho_real``/``rho_imag``
        (time, row, col), ``entropy`` (time, nats), ``purity``, ``populations`` (time, level), one
        variable per e_op (and ``<name>_imag`` when its imaginary part exceeds 1e-12); ``attrs``."""
        import xarray as xr

        N, st = self.n_done, self.states[: self.n_done]
        idx = np.arange(st.shape[-1])
        v: dict[str, Any] = {
            "rho_real": (("time", "row", "col"), st.real.copy(), {"long_name": "Re ρ(t)"}),
            "rho_imag": (("time", "row", "col"), st.imag.copy(), {"long_name": "Im ρ(t)"}),
            "entropy": ("time", self.entropy[:N].copy(), {"long_name": "von Neumann entropy", "units": "nats"}),
            "purity": ("time", self.purity[:N].copy(), {"long_name": "purity Tr ρ²"}),
            "populations": (("time", "level"), np.einsum("tii->ti", st).real.copy(), {"long_name": "ρ_ii"}),
        }
        for name, e in zip(self.e_names, self.expect[:, :N]):
            v[name] = ("time", e.real.copy(), {"long_name": f"<{name}>"})
            if np.abs(e.imag).max(initial=0.0) > 1e-12:
                v[f"{name}_imag"] = ("time", e.imag.copy())
        attrs = {k: (json.dumps(a) if isinstance(a, (dict, list)) else a) for k, a in self.attrs.items()}
        return xr.Dataset(v, coords={"time": ("time", self.times[:N].copy(), {"units": "time"}), "row": idx,
                                     "col": idx, "level": idx}, attrs=attrs)
