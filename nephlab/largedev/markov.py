"""Continuous-time Markov jump processes, their tilted generators and large deviations.

Conventions (used everywhere in this module):

* **Rates.** ``rates[i, j]`` is the rate (units 1/time) of the jump ``i -> j`` for ``i != j``.
  The diagonal of the input is *ignored*: the generator's diagonal is always recomputed as minus
  the escape rate, ``-sum_{j != i} rates[i, j]``. Rows of the generator sum to zero.
* **Observables.** A time-additive observable ``A_t = sum_jumps g[i, j] + int_0^t f(x(u)) du``
  with an increments matrix ``g`` (dimensionless, shape ``(n, n)``; only entries on allowed
  jumps are read) and a state function ``f`` (units 1/time, shape ``(n,)``).
* **Tilting / SCGF.** ``theta(s) = lim_{t->inf} (1/t) ln E[exp(-s A_t)]``, the one sign
  convention of :mod:`nephlab.largedev` (s > 0 favours *small* A). The tilted generator is ``W_s[i, j] = W[i, j] exp(-s g[i, j])`` for
  ``i != j`` and ``W_s[i, i] = -escape(i) - s f(i)``; ``theta(s)`` is its largest real
  eigenvalue. Hence ``theta'(0) = -<a>`` (minus the mean rate of A) and ``theta''(0)`` is the
  scaled variance ``lim Var(A_t)/t``.
* **Rate function.** ``I(x) = sup_s [-s x - theta(s)]`` (Legendre–Fenchel). Only the convex hull
  of the true rate function is returned.

Example:
    >>> import numpy as np
    >>> p = MarkovJumpProcess([[0.0, 1.0], [2.0, 0.0]])
    >>> np.round(p.stationary(), 6).tolist()
    [0.666667, 0.333333]
    >>> round(float(p.scgf(0.0, "activity")), 12)
    0.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.csgraph
import scipy.sparse.linalg

from nephlab._result import ResultBase, attr, coord, var
from nephlab.largedev._conventions import RATE_FUNCTION_CONVENTION, SCGF_CONVENTION

__all__ = ["MarkovJumpProcess", "Observable", "RateFunctionResult", "ScgfResult", "as_process", "doob",
           "kink_indices", "rate_function", "scgf"]

DEFAULT_SPARSE_THRESHOLD = 10_000


# --------------------------------------------------------------------------------------------
# observables
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observable:
    """A time-additive observable ``A_t = sum_jumps g[i, j] + int f(x(u)) du``.

    Attributes:
        name: label used in messages (``"activity"``, ``"current"``, ``"occupation"``, ...).
        increments: ``None`` (no jump part), the string ``"ones"`` (every jump counts 1), or an
            ``(n, n)`` dense array / scipy.sparse matrix of dimensionless increments.
        state_function: ``None`` or an ``(n,)`` array, units 1/time.

    Use the constructors :meth:`activity`, :meth:`current`, :meth:`occupation`.

    Example:
        >>> Observable.activity().name
        'activity'
        >>> Observable.occupation([0.0, 1.0]).state_function.tolist()
        [0.0, 1.0]
    """

    name: str
    increments: Any = None
    state_function: Any = None

    @classmethod
    def activity(cls) -> "Observable":
        """Dynamical activity: every jump counts +1 (dimensionless count).

        Example:
            >>> Observable.activity().increments
            'ones'
        """
        return cls("activity", "ones", None)

    @classmethod
    def current(cls, increments, check_antisymmetric: bool = True) -> "Observable":
        """Current with increments ``g[i, j]`` for the jump ``i -> j`` (shape ``(n, n)``).

        With ``check_antisymmetric`` (default), ``g`` must satisfy ``g[i, j] == -g[j, i]``.

        Example:
            >>> Observable.current([[0, 1], [-1, 0]]).name
            'current'
            >>> Observable.current([[0, 1], [1, 0]])
            Traceback (most recent call last):
            ...
            ValueError: increments must be antisymmetric (g[i, j] == -g[j, i]) for a current; g[0, 1] = 1.0 but g[1, 0] = 1.0 (pass check_antisymmetric=False to allow)
        """
        g = _as_matrix(increments, "increments")
        if check_antisymmetric:
            d = g + g.T
            if sp.issparse(d):
                d = d.tocoo()
                bad = np.nonzero(np.abs(d.data) > 1e-12)[0]
                ij = (d.row[bad[0]], d.col[bad[0]]) if bad.size else None
            else:
                bad = np.argwhere(np.abs(d) > 1e-12)
                ij = tuple(bad[0]) if bad.size else None
            if ij is not None:
                i, j = int(ij[0]), int(ij[1])
                gij, gji = float(g[i, j]), float(g[j, i])
                raise ValueError(
                    "increments must be antisymmetric (g[i, j] == -g[j, i]) for a current; "
                    f"g[{i}, {j}] = {gij} but g[{j}, {i}] = {gji} "
                    "(pass check_antisymmetric=False to allow)")
        return cls("current", g, None)

    @classmethod
    def occupation(cls, state_function) -> "Observable":
        """Time-integrated state function ``int_0^t f(x(u)) du``; ``f`` has shape ``(n,)``.

        Example:
            >>> Observable.occupation([1.0, 0.0]).name
            'occupation'
        """
        f = np.asarray(state_function, dtype=float)
        if f.ndim != 1:
            raise ValueError(f"state_function must be 1-D of shape (n,), got shape {f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError("state_function must be finite (no NaN/inf)")
        return cls("occupation", None, f)


def _as_matrix(g, name):
    if sp.issparse(g):
        g = sp.csr_matrix(g, dtype=float)
        vals = g.data
    else:
        g = np.asarray(g, dtype=float)
        vals = g
        if g.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (n, n) matrix, got shape {g.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} must be finite (no NaN/inf)")
    return g


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class RateFunctionResult(ResultBase):
    """Legendre–Fenchel rate function ``I(x) = sup_s [-s x - theta(s)]``.

    Attributes:
        x: ``(m,)`` observable values (units of A per unit time).
        I: ``(m,)`` rate function values (units 1/time); the *convex hull* of the true I.
        s_star: ``(m,)`` maximising s (``-theta'(s_star) = x``).
        at_boundary: ``(m,)`` bool; True where the supremum sits at an end of the s grid, so
            ``I`` there is only a lower bound (widen ``s_grid``).
        kink: True if theta shows a jump in its slope on the grid (a dynamical phase
            transition, or a crossover too sharp for the grid).
        kink_s: ``(k,)`` s locations of detected kinks.
        s_grid, theta: the grid and theta on it.

    ``to_xarray()``: ``I``, ``s_star``, ``at_boundary`` on dim ``x``; ``theta`` on dim ``s``;
    ``kink_s`` on dim ``kink``; attrs ``kink`` (0/1), ``convention`` and ``units`` per variable.

    Example:
        >>> from nephlab.largedev.models import two_state
        >>> r = two_state(1.0, 1.0).rate_function([0.5, 1.0, 2.0], "activity")
        >>> np.round(r.I, 6).tolist()
        [0.153426, 0.0, 0.386294]
        >>> r.kink
        False
        >>> ds = r.to_xarray()
        >>> ds.I.dims, ds.theta.dims, ds.attrs["kink"]
        (('x',), ('s',), 0)
    """

    x: np.ndarray = coord("x", units="[A]/time", long_name="A per unit time")
    I: np.ndarray = var("x", units="1/time", long_name="rate function (convex hull)")
    s_star: np.ndarray = var("x", units="1/[A]", long_name="maximising s")
    at_boundary: np.ndarray = var("x", long_name="supremum at an end of the s grid (I is a lower bound)")
    kink: bool  # -> attrs["kink"] as 0/1
    kink_s: np.ndarray = var("kink", units="1/[A]", long_name="s of detected kinks")
    s_grid: np.ndarray = coord("s", units="1/[A]", long_name="tilt s", name="s")
    theta: np.ndarray = var("s", units="1/time", long_name="SCGF theta(s)")

    xarray_attrs = {"convention": RATE_FUNCTION_CONVENTION}

    def _xarray_extra(self, ds):
        ds.attrs["kink"] = int(self.kink)
        return ds


@dataclass(frozen=True, repr=False)
class ScgfResult(ResultBase):
    """SCGF and its first two derivatives on a grid of s (see :meth:`MarkovJumpProcess.scgf_curve`).

    Attributes:
        s: ``(m,)`` tilts (1/[A]).
        theta: ``(m,)`` theta(s) (1/time).
        dtheta: ``(m,)`` theta'(s) ([A]/time); ``-dtheta`` is the mean rate of A in the tilted
            (Doob) ensemble.
        d2theta: ``(m,)`` theta''(s) ([A]^2/time), the scaled variance of A in the tilted ensemble.
        observable: the observable's name.

    ``to_xarray()``: dim ``s``, variables ``theta``, ``dtheta``, ``d2theta``, ``mean`` (units
    in attrs), attrs ``observable`` and ``convention``.

    Example:
        >>> from nephlab.largedev.models import two_state
        >>> r = two_state(1.0, 1.0).scgf_curve([0.0], "activity")   # theta = exp(-s) - 1
        >>> [round(float(v[0]), 10) for v in (r.theta, r.dtheta, r.d2theta)]
        [0.0, -1.0, 1.0]
        >>> sorted(two_state(1.0, 2.0).scgf_curve([0.0, 1.0]).to_xarray().data_vars)
        ['d2theta', 'dtheta', 'mean', 'theta']
    """

    s: np.ndarray = coord("s", units="1/[A]", long_name="tilt s")
    theta: np.ndarray = var("s", units="1/time", long_name="SCGF theta(s)")
    dtheta: np.ndarray = var("s", units="[A]/time", long_name="theta'(s)")
    d2theta: np.ndarray = var("s", units="[A]^2/time", long_name="theta''(s)")
    observable: str = attr()

    xarray_attrs = {"convention": SCGF_CONVENTION}

    @property
    def mean(self) -> np.ndarray:
        """``-theta'(s)``: mean rate of A in the tilted ensemble, shape ``(m,)`` ([A]/time).

        Example:
            >>> from nephlab.largedev.models import two_state
            >>> np.round(two_state(1.0, 1.0).scgf_curve([0.0], "activity").mean, 12).tolist()
            [1.0]
        """
        return -self.dtheta

    def _xarray_extra(self, ds):
        return ds.assign(mean=("s", self.mean, {"long_name": "tilted mean rate of A", "units": "[A]/time"}))


def kink_indices(s, theta, kink_tol: float = 1e-2) -> np.ndarray:
    """Grid indices where theta(s) shows a jump in its slope (a dynamical phase transition, or
    a crossover too sharp for the grid).

    A kink at ``s[i]`` is flagged when the slope jump between the cells on either side exceeds
    ``kink_tol`` and is more than 5x the jumps of the neighbouring cells (a heuristic for finite
    state spaces, where theta is analytic but can cross over sharply).

    Args:
        s: ``(m,)`` strictly increasing grid (1/[A]). theta: ``(m,)`` (1/time).
        kink_tol: smallest slope jump ([A]/time) flagged.

    Returns:
        int array of indices into ``s`` (interior points only).

    Example:
        >>> s = np.linspace(-1, 1, 9)
        >>> kink_indices(s, np.abs(s)).tolist(), kink_indices(s, s**2).tolist()
        ([4], [])
    """
    s, th = np.asarray(s, dtype=float), np.asarray(theta, dtype=float)
    slopes = np.diff(th) / np.diff(s)
    jumps = np.abs(np.diff(slopes))
    nb = np.maximum(np.r_[0.0, jumps[:-1]], np.r_[jumps[1:], 0.0])
    return np.nonzero((jumps > kink_tol) & (jumps > 5 * nb))[0] + 1


# --------------------------------------------------------------------------------------------
# the process
# --------------------------------------------------------------------------------------------
class MarkovJumpProcess:
    """A finite continuous-time Markov jump process.

    Args:
        rates: ``(n, n)`` dense array-like or scipy.sparse matrix; ``rates[i, j]`` is the rate
            (1/time) of ``i -> j`` for ``i != j``. Off-diagonals must be finite and >= 0; the
            diagonal is ignored (the generator's diagonal is ``-escape rate``).
        states: optional ``(n, ...)`` labels of the states (e.g. configurations), kept as
            ``self.states`` and used in messages.
        sparse_threshold: state-space size from which eigenproblems use sparse Arnoldi
            (``scipy.sparse.linalg.eigs``) instead of dense LAPACK. Default 10_000.

    Example:
        >>> p = MarkovJumpProcess([[0.0, 2.0], [1.0, 0.0]])
        >>> p.n_states
        2
        >>> p.generator().tolist()
        [[-2.0, 2.0], [1.0, -1.0]]
        >>> MarkovJumpProcess([[0.0, -1.0], [1.0, 0.0]])
        Traceback (most recent call last):
        ...
        ValueError: rates must have non-negative off-diagonal entries; rates[0, 1] = -1.0
    """

    def __init__(self, rates, states=None, sparse_threshold: int = DEFAULT_SPARSE_THRESHOLD):
        if sp.issparse(rates):
            m = sp.coo_matrix(rates, dtype=float)
            shape = m.shape
            rows, cols, vals = m.row, m.col, m.data
        else:
            try:
                a = np.asarray(rates, dtype=float)
            except (TypeError, ValueError):
                raise TypeError(f"rates must be a numeric (n, n) matrix, got {type(rates).__name__}") from None
            if a.ndim != 2:
                raise ValueError(f"rates must be a square (n, n) matrix, got shape {a.shape}")
            shape = a.shape
            rows, cols = np.nonzero(~np.eye(*shape, dtype=bool) & (a != 0)) if a.size else ([], [])
            rows, cols = np.asarray(rows, int), np.asarray(cols, int)
            vals = a[rows, cols]
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
            raise ValueError(f"rates must be a square (n, n) matrix with n >= 1, got shape {shape}")
        off = rows != cols
        rows, cols, vals = rows[off], cols[off], vals[off]
        bad = np.nonzero(~np.isfinite(vals))[0]
        if bad.size:
            k = bad[0]
            raise ValueError(f"rates must be finite (no NaN/inf); rates[{rows[k]}, {cols[k]}] = {vals[k]}")
        bad = np.nonzero(vals < 0)[0]
        if bad.size:
            k = bad[0]
            raise ValueError(
                f"rates must have non-negative off-diagonal entries; rates[{rows[k]}, {cols[k]}] = {vals[k]}")
        keep = vals > 0
        # sum duplicates (COO input may repeat entries)
        m = sp.coo_matrix((vals[keep], (rows[keep], cols[keep])), shape=shape).tocsr()
        m.sum_duplicates()
        m = m.tocoo()
        self.n_states = int(shape[0])
        self._rows = m.row.astype(np.int64)
        self._cols = m.col.astype(np.int64)
        self._vals = m.data.astype(float)
        self.escape = np.bincount(self._rows, weights=self._vals, minlength=self.n_states)
        self.states = states
        self.sparse_threshold = int(sparse_threshold)
        self._irreducible_checked = False

    # ---------------------------------------------------------------- basic
    def __repr__(self):
        return f"MarkovJumpProcess(n_states={self.n_states}, n_transitions={self._vals.size})"

    def rates(self, sparse: bool = False):
        """The off-diagonal rate matrix ``(n, n)`` (1/time), zero diagonal.

        Example:
            >>> MarkovJumpProcess([[5.0, 2.0], [1.0, 7.0]]).rates().tolist()
            [[0.0, 2.0], [1.0, 0.0]]
        """
        m = sp.csr_matrix((self._vals, (self._rows, self._cols)), shape=(self.n_states,) * 2)
        return m if sparse else m.toarray()

    def generator(self, sparse: bool = False):
        """The generator ``Q = rates - diag(escape)`` of shape ``(n, n)``; rows sum to zero.

        Example:
            >>> MarkovJumpProcess([[0.0, 3.0], [1.0, 0.0]]).generator().sum(axis=1).tolist()
            [0.0, 0.0]
        """
        return self.tilted(0.0, Observable("none"), sparse=sparse)

    def check_irreducible(self) -> None:
        """Raise ``ValueError`` naming the strongly connected classes if the chain is reducible.

        Example:
            >>> MarkovJumpProcess([[0, 1, 0], [1, 0, 0], [0, 1, 0]]).check_irreducible()
            Traceback (most recent call last):
            ...
            ValueError: the chain is reducible (needed for a unique stationary state / leading eigenvalue): it has 2 strongly connected classes of states: [0, 1]; [2]
        """
        if self._irreducible_checked:
            return
        ncomp, labels = scipy.sparse.csgraph.connected_components(
            self.rates(sparse=True), directed=True, connection="strong")
        if ncomp > 1:
            groups = [np.nonzero(labels == c)[0] for c in range(ncomp)]
            groups.sort(key=lambda g: g[0])

            def fmt(g):
                lst = g[:10].tolist()
                return str(lst)[:-1] + (f", ... ({g.size} states)]" if g.size > 10 else "]")

            shown = "; ".join(fmt(g) for g in groups[:6]) + ("; ..." if ncomp > 6 else "")
            raise ValueError(
                "the chain is reducible (needed for a unique stationary state / leading "
                f"eigenvalue): it has {ncomp} strongly connected classes of states: {shown}")
        self._irreducible_checked = True

    def stationary(self) -> np.ndarray:
        """Stationary distribution ``pi`` (shape ``(n,)``, sums to 1) with ``pi Q = 0``.

        Requires an irreducible chain (else ``ValueError`` naming the disconnected states).

        Example:
            >>> MarkovJumpProcess([[0.0, 1.0], [3.0, 0.0]]).stationary().tolist()
            [0.75, 0.25]
        """
        self.check_irreducible()
        n = self.n_states
        if n == 1:
            return np.ones(1)
        qt = self.generator(sparse=True).T.tolil()
        qt[n - 1, :] = np.ones(n)
        b = np.zeros(n)
        b[-1] = 1.0
        if n < self.sparse_threshold:
            pi = np.linalg.solve(qt.toarray(), b)
        else:
            pi = scipy.sparse.linalg.spsolve(qt.tocsc(), b)
        pi = np.clip(pi, 0.0, None)  # round-off only: pi > 0 for an irreducible chain
        return pi / pi.sum()

    # ---------------------------------------------------------------- observables
    def observable(self, observable="activity", *, increments=None, state_function=None) -> Observable:
        """Resolve an observable specification into an :class:`Observable` checked against n.

        ``observable`` is ``"activity"``, ``"current"`` (needs ``increments``), ``"occupation"``
        (needs ``state_function``), an :class:`Observable`, an explicit ``(n, n)`` increments
        matrix or an explicit ``(n,)`` state vector. A shape mismatch raises ``ValueError``.

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])
            >>> p.observable("occupation", state_function=[0, 1]).name
            'occupation'
            >>> p.observable([1.0, 2.0, 3.0])
            Traceback (most recent call last):
            ...
            ValueError: observable 'occupation' has state_function of shape (3,), but the process has 2 states (expected (2,))
        """
        if isinstance(observable, Observable):
            obs = observable
        elif isinstance(observable, str):
            if observable == "activity":
                obs = Observable.activity()
            elif observable == "current":
                if increments is None:
                    raise ValueError("observable 'current' needs increments=<(n, n) matrix>")
                obs = Observable.current(increments)
            elif observable == "occupation":
                if state_function is None:
                    raise ValueError("observable 'occupation' needs state_function=<(n,) vector>")
                obs = Observable.occupation(state_function)
            else:
                raise ValueError(
                    f"observable must be 'activity', 'current', 'occupation', an Observable or an "
                    f"array, got {observable!r}")
        elif sp.issparse(observable) or np.ndim(observable) == 2:
            obs = Observable("current", _as_matrix(observable, "increments"), None)
        elif np.ndim(observable) == 1:
            obs = Observable.occupation(observable)
        else:
            raise ValueError(f"observable must be a string, an Observable, an (n, n) matrix or an "
                             f"(n,) vector, got shape {np.shape(observable)}")
        n = self.n_states
        g = obs.increments
        if g is not None and not isinstance(g, str) and g.shape != (n, n):
            raise ValueError(f"observable {obs.name!r} has increments of shape {g.shape}, but the "
                             f"process has {n} states (expected ({n}, {n}))")
        f = obs.state_function
        if f is not None and np.shape(f) != (n,):
            raise ValueError(f"observable {obs.name!r} has state_function of shape {np.shape(f)}, "
                             f"but the process has {n} states (expected ({n},))")
        return obs

    def _parts(self, obs: Observable):
        """Increments on the transitions (k,) and state function (n,)."""
        g = obs.increments
        if g is None:
            gv = np.zeros_like(self._vals)
        elif isinstance(g, str):
            gv = np.ones_like(self._vals)
        elif sp.issparse(g):
            gv = np.asarray(g.tocsr()[self._rows, self._cols]).ravel()
        else:
            gv = g[self._rows, self._cols]
        f = np.zeros(self.n_states) if obs.state_function is None else np.asarray(obs.state_function, float)
        return gv, f

    def mean(self, observable="activity", **kw) -> float:
        """Stationary mean rate ``<a> = lim E[A_t]/t`` (units of A per time) = ``-theta'(0)``.

        Example:
            >>> MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]]).mean("activity")
            1.0
        """
        obs = self.observable(observable, **kw)
        gv, f = self._parts(obs)
        pi = self.stationary()
        return float(np.sum(pi[self._rows] * self._vals * gv) + pi @ f)

    # ---------------------------------------------------------------- tilting
    def tilted(self, s, observable="activity", *, sparse: bool = False, **kw):
        """Tilted generator ``W_s`` (shape ``(n, n)``, 1/time) for a scalar s.

        ``W_s[i, j] = W[i, j] exp(-s g[i, j])`` (i != j), ``W_s[i, i] = -escape(i) - s f(i)``.

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [2.0, 0.0]])
            >>> np.round(p.tilted(np.log(2.0), "activity"), 12).tolist()
            [[-1.0, 0.5], [1.0, -2.0]]
        """
        obs = self.observable(observable, **kw)
        gv, f = self._parts(obs)
        s = float(s)
        n = self.n_states
        data = self._vals * np.exp(-s * gv)
        diag = -self.escape - s * f
        if sparse:
            return (sp.csr_matrix((data, (self._rows, self._cols)), shape=(n, n))
                    + sp.diags(diag)).tocsr()
        m = np.zeros((n, n))
        m[self._rows, self._cols] = data
        m[np.arange(n), np.arange(n)] += diag
        return m

    def _use_sparse(self, sparse_threshold):
        thr = self.sparse_threshold if sparse_threshold is None else int(sparse_threshold)
        return self.n_states >= thr

    def _leading(self, s, obs, use_sparse, vectors=False):
        """Leading eigenvalue (and right/left Perron vectors) of W_s for scalar s."""
        n = self.n_states
        if not use_sparse:
            w = self.tilted(s, obs)
            if not vectors:
                return float(np.max(np.linalg.eigvals(w).real))
            ev, vl, vr = scipy.linalg.eig(w, left=True, right=True)
            k = int(np.argmax(ev.real))
            r, l = vr[:, k].real, vl[:, k].real
        else:
            w = self.tilted(s, obs, sparse=True)
            # shift so that the matrix is non-negative with positive diagonal: the Perron root
            # is then the eigenvalue of largest modulus, which Arnoldi finds reliably
            c = float(max(0.0, -w.diagonal().min())) + 1.0
            m = (w + c * sp.identity(n, format="csr")).tocsr()
            v0 = np.ones(n)
            ev, vr = scipy.sparse.linalg.eigs(m, k=1, which="LM", v0=v0, tol=0, maxiter=100 * n)
            lam = float(ev[0].real) - c
            if not vectors:
                return lam
            r = vr[:, 0].real
            _, vl = scipy.sparse.linalg.eigs(m.T.tocsr(), k=1, which="LM", v0=v0, tol=0, maxiter=100 * n)
            l = vl[:, 0].real
            ev, k = np.array([lam]), 0
        r = r * np.sign(r.sum())
        l = l * np.sign(l.sum())
        return float(ev[k].real), r, l

    def scgf(self, s, observable="activity", *, sparse_threshold=None, **kw):
        """SCGF ``theta(s) = lim (1/t) ln E[exp(-s A_t)]`` (1/time), vectorised over s.

        Args:
            s: scalar or array of any shape (dimensionless, conjugate to A).
            observable: see :meth:`observable` (``increments=``/``state_function=`` as keywords).
            sparse_threshold: overrides ``self.sparse_threshold`` (use sparse Arnoldi when
                ``n_states >= sparse_threshold``).

        Returns:
            float array of the shape of ``s`` (a float for scalar s).

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])
            >>> np.round(p.scgf([0.0, 1.0], "activity"), 12).tolist()   # -1 + exp(-s)
            [0.0, -0.632120558829]
        """
        obs = self.observable(observable, **kw)
        self.check_irreducible()
        s_arr = np.asarray(s, dtype=float)
        flat = s_arr.ravel()
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"s must be finite, got {s!r}")
        if self._use_sparse(sparse_threshold):
            out = np.array([self._leading(x, obs, True) for x in flat])
        else:
            # batched dense eigenvalues: build W_s for a chunk of s values at once
            n = self.n_states
            gv, f = self._parts(obs)
            out = np.empty(flat.size)
            chunk = max(1, int(2e7 // max(n * n, 1)))
            idx = np.arange(n)
            for a in range(0, flat.size, chunk):
                sc = flat[a:a + chunk]
                w = np.zeros((sc.size, n, n))
                w[:, self._rows, self._cols] = self._vals * np.exp(-sc[:, None] * gv)
                w[:, idx, idx] = -self.escape - sc[:, None] * f
                out[a:a + chunk] = np.linalg.eigvals(w).real.max(axis=-1)
        out = out.reshape(s_arr.shape)
        return float(out) if out.ndim == 0 else out

    def scgf_derivative(self, s=0.0, observable="activity", *, sparse_threshold=None, **kw) -> float:
        """``theta'(s)`` by first-order perturbation theory (exact up to round-off).

        ``theta'(s) = l^T (dW_s/ds) r / (l^T r)`` with l, r the left/right Perron vectors;
        ``-theta'(0)`` is the mean rate of A (see :meth:`mean`).

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])
            >>> round(p.scgf_derivative(0.0, "activity"), 12)
            -1.0
        """
        obs = self.observable(observable, **kw)
        self.check_irreducible()
        _, r, l = self._leading(float(s), obs, self._use_sparse(sparse_threshold), vectors=True)
        gv, f = self._parts(obs)
        dw = -gv * self._vals * np.exp(-float(s) * gv)
        num = np.sum(l[self._rows] * dw * r[self._cols]) - np.sum(l * f * r)
        return float(num / (l @ r))

    def scgf_second_derivative(self, s=0.0, observable="activity", *, h: float = 1e-4,
                               sparse_threshold=None, **kw) -> float:
        """``theta''(s)``: central difference (step h) of the analytic ``theta'``; error O(h^2).

        ``theta''(0)`` is the scaled variance ``lim Var(A_t)/t`` (units of A^2 per time).

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])   # theta = -1 + exp(-s)
            >>> round(p.scgf_second_derivative(0.0, "activity"), 6)
            1.0
        """
        obs = self.observable(observable, **kw)
        d = [self.scgf_derivative(float(s) + e, obs, sparse_threshold=sparse_threshold) for e in (h, -h)]
        return (d[0] - d[1]) / (2 * h)

    def scgf_curve(self, s, observable="activity", *, sparse_threshold=None, **kw) -> ScgfResult:
        """theta(s), theta'(s) and theta''(s) on a 1-D grid of s, by perturbation theory.

        Dense case (``n_states < sparse_threshold``): one batched eigendecomposition
        ``W_s = R diag(w) R^{-1}`` per chunk of s; with ``A1 = R^{-1} W_s' R`` and
        ``A2 = R^{-1} W_s'' R``, ``theta' = A1[0, 0]`` and
        ``theta'' = A2[0, 0] + 2 sum_{m != 0} A1[0, m] A1[m, 0] / (w_0 - w_m)`` (index 0: the
        Perron root). Exact up to round-off; needs a simple leading eigenvalue (irreducible chain).
        Sparse case: :meth:`scgf`, :meth:`scgf_derivative` and a central difference for theta''.

        Args:
            s: scalar or 1-D array of tilts (1/[A]).
            observable: see :meth:`observable`.

        Returns:
            :class:`ScgfResult` (shapes ``(m,)``).

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [2.0, 0.0]])
            >>> r = p.scgf_curve([0.0, 0.5], "activity")
            >>> bool(np.allclose(r.d2theta[0], p.scgf_second_derivative(0.0, "activity"), atol=1e-6))
            True
        """
        obs = self.observable(observable, **kw)
        self.check_irreducible()
        s_arr = np.atleast_1d(np.asarray(s, dtype=float))
        if s_arr.ndim != 1 or not np.all(np.isfinite(s_arr)):
            raise ValueError(f"s must be a finite scalar or 1-D array, got {s!r}")
        if self._use_sparse(sparse_threshold):
            th = np.asarray(self.scgf(s_arr, obs, sparse_threshold=sparse_threshold), float).reshape(-1)
            d1 = np.array([self.scgf_derivative(v, obs, sparse_threshold=sparse_threshold) for v in s_arr])
            d2 = np.array([self.scgf_second_derivative(v, obs, sparse_threshold=sparse_threshold)
                           for v in s_arr])
            return ScgfResult(s_arr, th, d1, d2, obs.name)
        n = self.n_states
        gv, f = self._parts(obs)
        idx = np.arange(n)
        th, d1, d2 = (np.empty(s_arr.size) for _ in range(3))
        chunk = max(1, int(4e6 // max(n * n, 1)))
        sym = self._symmetrizer(gv)
        if sym is not None:
            # reversible chain, symmetric increments: S_s = pi^{1/2} W_s pi^{-1/2} is symmetric
            vals = self._vals * sym
            for a in range(0, s_arr.size, chunk):
                sc = s_arr[a:a + chunk]
                e = vals * np.exp(-sc[:, None] * gv)
                w = np.zeros((sc.size, n, n))
                w[:, self._rows, self._cols] = e
                w[:, idx, idx] = -self.escape - sc[:, None] * f
                w1 = np.zeros_like(w)
                w1[:, self._rows, self._cols] = -gv * e
                w1[:, idx, idx] = -f
                ev, V = np.linalg.eigh(w)
                v0 = V[:, :, -1]
                c = np.einsum("bij,bi->bj", V, np.einsum("bij,bj->bi", w1, v0))   # A1[:, m, 0]
                a2 = np.einsum("bi,bi->b", v0[:, self._rows] * v0[:, self._cols], gv**2 * e)
                gap = ev[:, -1:] - ev[:, :-1]
                th[a:a + chunk] = ev[:, -1]
                d1[a:a + chunk] = c[:, -1]
                d2[a:a + chunk] = a2 + 2 * np.sum(c[:, :-1] ** 2 / gap, axis=1)
            return ScgfResult(s_arr, th, d1, d2, obs.name)
        for a in range(0, s_arr.size, chunk):
            sc = s_arr[a:a + chunk]
            e = self._vals * np.exp(-sc[:, None] * gv)           # (b, k)
            w = np.zeros((sc.size, n, n))
            w[:, self._rows, self._cols] = e
            w[:, idx, idx] = -self.escape - sc[:, None] * f
            w1 = np.zeros_like(w)
            w1[:, self._rows, self._cols] = -gv * e
            w1[:, idx, idx] = -f
            w2 = np.zeros_like(w)
            w2[:, self._rows, self._cols] = gv**2 * e
            ev, R = np.linalg.eig(w)
            Rinv = np.linalg.inv(R)
            k = np.argmax(ev.real, axis=1)
            b = np.arange(sc.size)
            lam = ev[b, k]
            r0 = R[b, :, k]                                        # (b, n)
            l0 = Rinv[b, k, :]                                     # (b, n)
            col = np.einsum("bij,bj->bi", Rinv, np.einsum("bij,bj->bi", w1, r0))   # A1[:, m, 0]
            row = np.einsum("bi,bij->bj", np.einsum("bi,bij->bj", l0, w1), R)      # A1[:, 0, m]
            a2 = np.einsum("bi,bij,bj->b", l0, w2, r0)
            gap = lam[:, None] - ev
            gap[b, k] = 1.0
            term = row * col / gap
            term[b, k] = 0.0
            th[a:a + chunk] = lam.real
            d1[a:a + chunk] = row[b, k].real
            d2[a:a + chunk] = (a2 + 2 * term.sum(axis=1)).real
        return ScgfResult(s_arr, th, d1, d2, obs.name)

    def _symmetrizer(self, gv):
        """``sqrt(pi_i / pi_j)`` on the transitions if the chain is reversible and the increments
        symmetric (then the tilted generator is similar to a symmetric matrix), else None."""
        if self.n_states < 2:
            return None
        key = (self._rows * self.n_states + self._cols)
        rkey = (self._cols * self.n_states + self._rows)
        order = np.argsort(key)
        pos = np.searchsorted(key[order], rkey)
        pos = np.minimum(pos, key.size - 1)
        if not np.array_equal(key[order][pos], rkey):
            return None                                  # some jump has no reverse
        rev = order[pos]                                 # index of the reverse transition
        if not np.allclose(gv, gv[rev], rtol=0, atol=1e-14):
            return None
        pi = self.stationary()
        flux = pi[self._rows] * self._vals
        if not np.allclose(flux, flux[rev], rtol=1e-10, atol=1e-14 * float(flux.max())):
            return None
        return np.sqrt(pi[self._rows] / pi[self._cols])

    # ---------------------------------------------------------------- Legendre
    def rate_function(self, x, observable="activity", s_grid=None, *, kink_tol: float = 1e-2,
                      sparse_threshold=None, **kw) -> RateFunctionResult:
        """Rate function ``I(x) = sup_s [-s x - theta(s)]`` by Legendre–Fenchel transform.

        theta is evaluated on ``s_grid`` (default ``linspace(-5, 5, 201)``); for each x the grid
        maximiser is refined by ``scipy.optimize.minimize_scalar`` (bounded, on the two
        neighbouring grid cells). Only the **convex hull** of the true rate function is
        returned (non-convex parts are invisible to theta). A kink in theta (dynamical phase
        transition) is flagged when the slope jump between neighbouring grid cells exceeds
        ``kink_tol`` and is more than 5x the jumps of the neighbouring cells (a heuristic for
        finite state spaces, where theta is analytic but can cross over sharply).

        Args:
            x: scalar or ``(m,)`` values of A per unit time.
            s_grid: 1-D increasing grid of s.

        Returns:
            :class:`RateFunctionResult`.

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])
            >>> r = p.rate_function(2.0, "activity")   # I(k) = k ln k - k + 1
            >>> round(float(r.I[0]), 8), round(float(r.s_star[0]), 8)
            (0.38629436, -0.69314718)
        """
        obs = self.observable(observable, **kw)
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        if xs.ndim != 1 or not np.all(np.isfinite(xs)):
            raise ValueError(f"x must be a finite scalar or 1-D array, got {x!r}")
        grid = np.linspace(-5.0, 5.0, 201) if s_grid is None else np.asarray(s_grid, dtype=float)
        if grid.ndim != 1 or grid.size < 3 or np.any(np.diff(grid) <= 0):
            raise ValueError("s_grid must be a 1-D strictly increasing array with >= 3 points")
        th = self.scgf(grid, obs, sparse_threshold=sparse_threshold)
        kink_idx = kink_indices(grid, th, kink_tol)
        I = np.empty(xs.size)
        s_star = np.empty(xs.size)
        at_b = np.zeros(xs.size, dtype=bool)
        for m, xv in enumerate(xs):
            vals = -grid * xv - th
            k = int(np.argmax(vals))
            lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
            res = scipy.optimize.minimize_scalar(
                lambda sv: sv * xv + self.scgf(sv, obs, sparse_threshold=sparse_threshold),
                bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
            if -res.fun >= vals[k]:
                I[m], s_star[m] = -res.fun, res.x
            else:
                I[m], s_star[m] = vals[k], grid[k]
            at_b[m] = k in (0, grid.size - 1)
        return RateFunctionResult(xs, I, s_star, at_b, bool(kink_idx.size), grid[kink_idx], grid, th)

    # ---------------------------------------------------------------- Doob
    def doob(self, s, observable="activity", *, sparse_threshold=None, **kw) -> "MarkovJumpProcess":
        """Doob-transformed (driven) process at tilt s.

        ``W^D[i, j] = W_s[i, j] r_j / r_i`` (i != j), r the right Perron vector of ``W_s``. Its
        stationary law is ``l_i r_i`` (normalised) and its stationary mean rate of A is
        ``-theta'(s)``: typical trajectories of the driven process are the rare ones of the
        tilted ensemble.

        Example:
            >>> p = MarkovJumpProcess([[0.0, 1.0], [1.0, 0.0]])
            >>> d = p.doob(1.0, "activity")
            >>> round(d.mean("activity"), 12) == round(-p.scgf_derivative(1.0, "activity"), 12)
            True
        """
        obs = self.observable(observable, **kw)
        self.check_irreducible()
        _, r, _ = self._leading(float(s), obs, self._use_sparse(sparse_threshold), vectors=True)
        gv, _ = self._parts(obs)
        data = self._vals * np.exp(-float(s) * gv) * r[self._cols] / r[self._rows]
        n = self.n_states
        m = sp.csr_matrix((data, (self._rows, self._cols)), shape=(n, n))
        return MarkovJumpProcess(m, states=self.states, sparse_threshold=self.sparse_threshold)


# --------------------------------------------------------------------------------------------
# one entry point for a process or a rate matrix
# --------------------------------------------------------------------------------------------
def as_process(process: MarkovJumpProcess | Any, name: str = "process") -> MarkovJumpProcess:
    """``process`` itself if it is a :class:`MarkovJumpProcess`, else ``MarkovJumpProcess(process)``.

    A rate matrix (``(n, n)`` dense array-like or scipy.sparse, ``rates[i, j]`` = rate of
    ``i -> j``) is validated as by :class:`MarkovJumpProcess`.

    Example:
        >>> as_process([[0.0, 1.0], [2.0, 0.0]]).n_states
        2
        >>> p = MarkovJumpProcess([[0.0, 1.0], [2.0, 0.0]])
        >>> as_process(p) is p
        True
    """
    if isinstance(process, MarkovJumpProcess):
        return process
    if process is None or isinstance(process, (str, bytes)):
        raise TypeError(f"{name} must be a MarkovJumpProcess or an (n, n) rate matrix, got {process!r}")
    return MarkovJumpProcess(process)


def scgf(process: MarkovJumpProcess | Any, s, observable="activity", **kw):
    """SCGF ``theta(s)`` of a :class:`MarkovJumpProcess` or of a rate matrix.

    The same as ``as_process(process).scgf(s, observable, **kw)``; see
    :meth:`MarkovJumpProcess.scgf` (sign convention of :mod:`nephlab.largedev`).

    Example:
        >>> rates = [[0.0, 1.0], [1.0, 0.0]]
        >>> scgf(rates, 1.0) == scgf(MarkovJumpProcess(rates), 1.0)
        True
    """
    return as_process(process).scgf(s, observable, **kw)


def rate_function(process: MarkovJumpProcess | Any, x, observable="activity", s_grid=None,
                  **kw) -> RateFunctionResult:
    """Rate function ``I(x)`` of a :class:`MarkovJumpProcess` or of a rate matrix.

    The same as ``as_process(process).rate_function(x, observable, s_grid, **kw)``; see
    :meth:`MarkovJumpProcess.rate_function`.

    Example:
        >>> round(float(rate_function([[0.0, 1.0], [1.0, 0.0]], 2.0).I[0]), 8)   # 2 ln 2 - 1
        0.38629436
    """
    return as_process(process).rate_function(x, observable, s_grid, **kw)


def doob(process: MarkovJumpProcess | Any, s, observable="activity", **kw) -> MarkovJumpProcess:
    """Doob-transformed (driven) process at tilt s of a :class:`MarkovJumpProcess` or a rate matrix.

    The same as ``as_process(process).doob(s, observable, **kw)``; see :meth:`MarkovJumpProcess.doob`.

    Example:
        >>> d = doob([[0.0, 1.0], [1.0, 0.0]], 1.0)
        >>> round(d.mean("activity"), 12)   # -theta'(1) = exp(-1)
        0.367879441171
    """
    return as_process(process).doob(s, observable, **kw)
