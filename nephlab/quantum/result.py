"""The result of :func:`nephlab.mesolve`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._result import ResultBase

__all__ = ["Result"]


@dataclass(frozen=True, repr=False)
class Result(ResultBase):
    """Solution of a master equation.

    Attributes:
        times: (T,) saved times.
        expect: list with one array per e_op, shape batch + (T,) (real for Hermitian e_ops), a
            dict when e_ops was a dict, or None without e_ops.
        states: batch + (T, n, n) complex density matrices, or None with ``store_states=False``.
        final_state: batch + (n, n) state at ``times[-1]``.
        method: the method that ran (``"auto"`` records its choice here).
        stats: ``steps``, ``accepted``, ``rejected``, ``rhs_evals`` (per batch element when
            batched), ``wall_time`` (s, compile included on a first call), ``device``,
            ``format`` (operator storage) and ``interaction_frame``.
        batch_shape: the broadcast batch axes of H, c_ops and rho0.
        dims: QuTiP dims of the Qobj inputs (e.g. ``[[2, 2], [2, 2]]``), kept for
            :meth:`to_qutip`; None when no input was a ``Qobj``.

    ``repr`` is the compact one of every nephlab result; ``str`` a short summary;
    ``save(path)`` writes :meth:`to_xarray` (its keyword arguments pass through).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, fock_dm
        >>> a = destroy(3)
        >>> res = nephlab.mesolve(a.T @ a, fock_dm(3, 1), np.linspace(0, 1, 5), [0.3 * a], e_ops=[a.T @ a])
        >>> res.expect[0].shape, res.states.shape, res.purity().shape
        ((5,), (5, 3, 3), (5,))
    """

    times: np.ndarray
    expect: Any
    states: Any
    final_state: Any
    method: str
    stats: dict
    batch_shape: tuple = ()
    e_keys: Any = field(default=None, repr=False)
    dims: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        n = self.final_state.shape[-1]
        lines = [
            f"Result(method={self.method!r}, device={self.stats.get('device')!r})",
            f"  times: {len(self.times)} points in [{self.times[0]:g}, {self.times[-1]:g}], n={n}"
            + (f", batch={self.batch_shape}" if self.batch_shape else ""),
            f"  states: {'stored' if self.states is not None else 'not stored (final_state only)'}",
            f"  expect: {0 if self.expect is None else len(self.expect)} operator(s)",
            f"  steps: {_short(self.stats.get('steps'))}, rhs evals: {_short(self.stats.get('rhs_evals'))}, "
            f"wall time: {self.stats.get('wall_time', float('nan')):.3g} s",
        ]
        return "\n".join(lines)

    def _need_states(self, what: str):
        if self.states is None:
            raise ValueError(f"Result.{what}() needs the states at every time; run mesolve with store_states=True")
        return self.states

    def entropy(self, base: float = np.e) -> np.ndarray:
        """Von Neumann entropy S(t) = -Tr ρ ln ρ (nats; ``base=2`` for bits), batch + (T,).

        The states are the solver's own output, so they are not re-validated: eigenvalues at
        the level of the integration error below zero (≈ -rtol) count as 0 in 0·log 0.
        """
        from .thermo import _entropy_core, _log_base

        states = self._need_states("entropy")
        return np.asarray(_entropy_core(states)) / _log_base(base)

    def purity(self) -> np.ndarray:
        """Purity Tr ρ(t)², batch + (T,)."""
        states = self._need_states("purity")
        return np.asarray(jnp.real(jnp.einsum("...ij,...ji->...", states, states)))

    def populations(self) -> np.ndarray:
        """Diagonal of ρ(t) in the computational basis, batch + (T, n), real."""
        return np.asarray(jnp.real(jnp.diagonal(self._need_states("populations"), axis1=-2, axis2=-1)))

    def to_xarray(self, batch_dims: list[str] | None = None, batch_coords: dict | None = None):
        """The result as an ``xarray.Dataset``.

        Dims: the batch axes (``batch_dims``, default ``batch_0``, ``batch_1``, ...), ``time``,
        and for states ``row`` and ``col``. Variables: ``expect_<key>`` for each e_op (key =
        index or dict key), ``states`` (complex), ``final_state``. Attributes hold the method
        and stats.

        Example:
            >>> # ds = res.to_xarray(batch_dims=["F"], batch_coords={"F": F_values})
        """
        import xarray as xr

        nb = len(self.batch_shape)
        bdims = list(batch_dims) if batch_dims is not None else [f"batch_{i}" for i in range(nb)]
        if len(bdims) != nb:
            raise ValueError(f"batch_dims must name {nb} batch axes (batch_shape={self.batch_shape}), got {batch_dims!r}")
        coords: dict = {"time": np.asarray(self.times)}
        for name, val in (batch_coords or {}).items():
            if name not in bdims:
                raise ValueError(f"batch_coords key {name!r} is not one of batch_dims {bdims}")
            coords[name] = np.asarray(val)
        data = {}
        if self.expect is not None:
            items = self.expect.items() if isinstance(self.expect, dict) else enumerate(self.expect)
            for key, val in items:
                data[f"expect_{key}"] = (bdims + ["time"], np.asarray(val))
        if self.states is not None:
            data["states"] = (bdims + ["time", "row", "col"], np.asarray(self.states))
        data["final_state"] = (bdims + ["row", "col"], np.asarray(self.final_state))
        attrs = {"method": self.method}
        for k, v in self.stats.items():
            if isinstance(v, (int, float, str, bool, np.integer, np.floating)):
                attrs[k] = v
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def to_qutip(self, final: bool = False):
        """States as QuTiP ``Qobj`` density matrices, with the dims of the ``Qobj`` inputs.

        When ``rho0``, ``H``, ``c_ops`` or ``e_ops`` came as ``Qobj`` their dims (e.g.
        ``[[2, 2], [2, 2]]`` for two qubits) are kept, so ``ptrace`` and ``tensor`` work on the
        output; otherwise the dims are QuTiP's default ``[[n], [n]]``.

        Args:
            final: return the final state only (a ``Qobj``, or nested lists over the batch).

        Returns:
            a list over time for an unbatched result (the final state alone when states were
            not stored, or with ``final=True``), nested in lists following ``batch_shape``.

        Example:
            >>> import numpy as np, qutip, nephlab
            >>> sm = qutip.tensor(qutip.sigmam(), qutip.qeye(2))
            >>> psi = qutip.tensor(qutip.basis(2, 0), qutip.basis(2, 1))
            >>> res = nephlab.mesolve(qutip.qzero([2, 2]), psi, np.linspace(0, 1, 3), [sm])
            >>> res.to_qutip(final=True).dims, res.to_qutip()[-1].ptrace(1).full().real.round(12)
            ([[2, 2], [2, 2]], array([[0., 0.],
                   [0., 1.]]))
        """
        from ._convert import to_qobj

        return to_qobj(self.final_state if final or self.states is None else self.states, self.dims)


def _short(v) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return str(a.item())
    return f"{int(a.min())}..{int(a.max())}"
