"""Quantum thermodynamics: entropies, thermal baths, heat currents, entropy production and
two-point-measurement work statistics.

Units: ħ = k_B = 1. Energies and rates share one unit, ``beta`` is an inverse energy, entropies
are in nats unless a ``base`` is given, heat currents are energy per time and the entropy
production rate is nats per time. Leading axes of every array argument are batch axes (they
broadcast like NumPy) unless a docstring says otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (enables float64)
from .._result import ResultBase, attr, var
from .._validate import broadcast_batch, real_number, time_grid
from ._convert import (
    as_density_matrix, as_operator, check_dims, check_finite, check_hermitian, qobj_dims, to_jax, to_numpy, to_qobj,
)
from .propagator import adaptive_propagator
from .superop import _as_c_ops, _dag, _dissipator_core, _rhs_core
from .timedep import function_name, sample, time_function

__all__ = [
    "WorkStatistics",
    "entropy_production_rate",
    "entropy_vn",
    "heat_currents",
    "purity",
    "relative_entropy",
    "thermal_bath",
    "tpm_work",
]

_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _log_base(base: Any) -> float:
    b = real_number(base, "base", positive=True)
    if b == 1.0:
        raise ValueError("base must be a positive number other than 1 (e.g. math.e for nats, 2 for bits), got 1")
    return math.log(b)


def _zero_cut(n: int) -> float:
    """Eigenvalues (of unit-trace states) at or below this count as exact zeros."""
    return 10.0 * n * _EPS


def _baths(c_ops_per_bath: Any, n: int) -> list[list[np.ndarray]]:
    if not isinstance(c_ops_per_bath, (list, tuple)) or len(c_ops_per_bath) == 0:
        raise TypeError(
            "c_ops_per_bath must be a non-empty list with one list of collapse operators per bath, "
            f"e.g. [thermal_bath(a, g, n1), thermal_bath(a, g, n2)]; got {type(c_ops_per_bath).__name__}"
            + (" of length 0" if isinstance(c_ops_per_bath, (list, tuple)) else "")
        )
    out = []
    for k, bath in enumerate(c_ops_per_bath):
        if not isinstance(bath, (list, tuple)):
            raise TypeError(
                f"c_ops_per_bath[{k}] must be a list of collapse operators (one bath), got "
                f"{type(bath).__name__}; wrap a single operator L as [L]"
            )
        out.append(_as_c_ops(bath, n, name=f"c_ops_per_bath[{k}]"))
    return out


def _stack_baths(Hn: np.ndarray, baths: list[list[np.ndarray]], extra: list[tuple[str, tuple]]) -> tuple:
    n = Hn.shape[-1]
    shapes = [("H", Hn.shape[:-2])] + extra
    for k, bath in enumerate(baths):
        shapes += [(f"c_ops_per_bath[{k}][{j}]", c.shape[:-2]) for j, c in enumerate(bath)]
    bshape = broadcast_batch(shapes)
    Cs = []
    for bath in baths:
        if bath:
            Cs.append(to_jax(np.stack([np.broadcast_to(c, bshape + (n, n)) for c in bath], axis=-3)))
        else:
            Cs.append(to_jax(np.zeros(bshape + (0, n, n), np.complex128)))
    return bshape, to_jax(np.broadcast_to(Hn, bshape + (n, n))), Cs


# --------------------------------------------------------------------------------------------
# entropies
# --------------------------------------------------------------------------------------------


@jax.jit
def _entropy_core(rho):
    lam = jnp.linalg.eigvalsh(0.5 * (rho + _dag(rho)))
    pos = lam > 0
    return -jnp.sum(jnp.where(pos, lam * jnp.log(jnp.where(pos, lam, 1.0)), 0.0), axis=-1)


@jax.jit
def _purity_core(rho):
    return jnp.real(jnp.einsum("...ij,...ji->...", rho, rho))


def entropy_vn(rho: Any, base: float = math.e) -> jax.Array:
    """Von Neumann entropy ``S(ρ) = -Tr ρ log ρ``.

    Eigenvalues ≤ 0 (round-off of a positive semidefinite ρ) contribute ``0 · log 0 = 0``.

    Args:
        rho: density matrix (..., n, n) (or a ket (n,) / (n, 1)); must be Hermitian, unit trace,
            positive semidefinite (checked).
        base: logarithm base; ``math.e`` (default) gives nats, 2 gives bits.

    Returns:
        float64 ``jax.Array`` of shape (...) (batch axes of ``rho``).

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(entropy_vn(jnp.eye(2) / 2, base=2)), 12)
        1.0
    """
    lb = _log_base(base)
    r = as_density_matrix(rho, "rho")
    return _entropy_core(to_jax(r)) / lb


def purity(rho: Any) -> jax.Array:
    """Purity ``Tr ρ²`` (1 for pure states, 1/n for the maximally mixed state).

    Args:
        rho: density matrix (..., n, n) or ket; validated like :func:`entropy_vn`.

    Returns:
        float64 ``jax.Array`` of shape (...).

    Example:
        >>> import jax.numpy as jnp
        >>> float(purity(jnp.eye(4) / 4))
        0.25
    """
    return _purity_core(to_jax(as_density_matrix(rho, "rho")))


@jax.jit
def _relent_core(rho, sigma):
    n = rho.shape[-1]
    cut = _zero_cut(n)
    mu, V = jnp.linalg.eigh(0.5 * (sigma + _dag(sigma)))
    w = jnp.real(jnp.einsum("...ji,...jk,...ki->...i", jnp.conj(V), rho, V))  # <j|ρ|j>
    kernel = mu <= cut
    unsupported = jnp.any(kernel & (w > cut), axis=-1)
    cross = jnp.sum(jnp.where(kernel, 0.0, w * jnp.log(jnp.where(kernel, 1.0, mu))), axis=-1)
    val = -_entropy_core(rho) - cross
    return jnp.where(unsupported, jnp.inf, val)


def relative_entropy(rho: Any, sigma: Any, base: float = math.e) -> jax.Array:
    """Quantum relative entropy ``S(ρ‖σ) = Tr ρ (log ρ - log σ) ≥ 0``.

    It is ``+inf`` when the support of ρ is not contained in the support of σ. Numerically an
    eigenvalue of σ (or a weight ``<j|ρ|j>`` on its eigenvector) at or below ``10 n ε``
    (ε = 2.2e-16) counts as zero; so ``+inf`` is returned when ρ has weight above that on an
    eigenvector of σ whose eigenvalue is below it.

    Args:
        rho, sigma: density matrices (..., n, n) of equal dimension; batch axes broadcast.
        base: logarithm base (default e: nats).

    Returns:
        float64 ``jax.Array`` of shape (broadcast batch).

    Example:
        >>> import jax.numpy as jnp
        >>> rho = jnp.diag(jnp.array([1.0, 0.0]))
        >>> round(float(relative_entropy(rho, jnp.eye(2) / 2, base=2)), 12)
        1.0
        >>> float(relative_entropy(jnp.eye(2) / 2, rho))
        inf
    """
    lb = _log_base(base)
    r = as_density_matrix(rho, "rho")
    s = as_density_matrix(sigma, "sigma")
    check_dims(s, r.shape[-1], "sigma", "rho")
    broadcast_batch([("rho", r.shape[:-2]), ("sigma", s.shape[:-2])])
    return _relent_core(to_jax(r), to_jax(s)) / lb


# --------------------------------------------------------------------------------------------
# baths and currents
# --------------------------------------------------------------------------------------------


def thermal_bath(
    a: Any,
    gamma: float,
    n_th: float | None = None,
    *,
    beta: float | None = None,
    omega: float | None = None,
) -> list[jax.Array]:
    """Collapse operators of a thermal (bosonic) bath coupled through the lowering operator ``a``.

    Returns ``[sqrt(γ (n_th + 1)) a, sqrt(γ n_th) a†]`` (the second is omitted when n_th = 0):
    emission at rate γ(n_th + 1), absorption at rate γ n_th. Its fixed point for
    ``H = ω a†a`` (or ``(ω/2) σz`` with ``a = σ-``) is the Gibbs state at β with
    ``n_th = 1 / (exp(β ω) - 1)``.

    Args:
        a: lowering operator (..., n, n) (e.g. ``destroy(n)`` or ``sigmam()``).
        gamma: coupling rate γ ≥ 0 (units of energy, ħ = 1).
        n_th: mean bath occupation at the transition frequency, ≥ 0 (default 0: zero temperature).
        beta, omega: alternative to ``n_th``: inverse temperature β > 0 and transition frequency
            ω > 0, giving the Bose–Einstein ``n_th = 1 / (exp(β ω) - 1)``. Give both or neither,
            and not together with ``n_th``.

    Returns:
        list of one or two complex128 arrays of the shape of ``a`` (``Qobj`` with the dims of
        ``a`` when ``a`` is a ``Qobj``).

    Example:
        >>> from nephlab.quantum.operators import destroy
        >>> len(thermal_bath(destroy(5), 0.1)), len(thermal_bath(destroy(5), 0.1, 0.5))
        (1, 2)
        >>> ops = thermal_bath(destroy(3), 1.0, beta=1.0, omega=1.0)
        >>> round(float(abs(ops[1][1, 0]) ** 2), 12) == round(1 / (2.718281828459045 - 1), 12)
        True
    """
    A = as_operator(a, "a")
    g = real_number(gamma, "gamma")
    if g < 0:
        raise ValueError(f"gamma is a rate and must be >= 0, got negative rate gamma={g!r}")
    if (beta is None) != (omega is None):
        raise ValueError(
            f"beta and omega must be given together to compute n_th from Bose–Einstein statistics; "
            f"got beta={beta!r}, omega={omega!r}"
        )
    if beta is not None:
        if n_th is not None:
            raise ValueError(f"give either n_th (got {n_th!r}) or beta and omega (got beta={beta!r}, omega={omega!r}), not both")
        b = real_number(beta, "beta", positive=True)
        w = real_number(omega, "omega", positive=True)
        nth = 1.0 / math.expm1(b * w) if b * w < 700 else 0.0
    else:
        nth = 0.0 if n_th is None else real_number(n_th, "n_th")
        if nth < 0:
            raise ValueError(f"n_th is a mean occupation and must be >= 0, got n_th={nth!r} (a negative rate gamma*n_th)")
    Aj = to_jax(A)
    ops = [math.sqrt(g * (nth + 1.0)) * Aj]
    if nth > 0:
        ops.append(math.sqrt(g * nth) * _dag(Aj))
    dims = qobj_dims([("a", a)])
    return ops if dims is None else [to_qobj(op, dims) for op in ops]


@jax.jit
def _heat_core(H, Cs, rho):
    return jnp.stack([jnp.real(jnp.einsum("...ij,...ji->...", H, _dissipator_core(C, rho))) for C in Cs], axis=-1)


def heat_currents(H: Any, c_ops_per_bath: Sequence[Sequence[Any]], rho: Any) -> jax.Array:
    """Heat currents ``J_k = Tr[H D_k(ρ)]`` from each bath k into the system.

    ``D_k`` is the dissipator of bath k, ``D_k(ρ) = Σ_{L ∈ bath k} (L ρ L† - ½{L†L, ρ})``.
    Sign convention: ``J_k > 0`` means energy flows **from bath k into the system**. At a steady
    state, ``Σ_k J_k = 0`` (first law, time-independent H).

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        c_ops_per_bath: list over baths, each a list of collapse operators (..., n, n).
        rho: density matrix (..., n, n) (validated: Hermitian, unit trace, PSD).

    Returns:
        float64 ``jax.Array`` of shape batch + (n_baths,), units energy × rate.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmaz, sigmam
        >>> excited = jnp.array([[1, 0], [0, 0]], complex)
        >>> heat_currents(0.5 * sigmaz(), [thermal_bath(sigmam(), 1.0)], excited).tolist()
        [-1.0]
    """
    Hn = as_operator(H, "H", hermitian=True, kind="Hamiltonian")
    n = Hn.shape[-1]
    baths = _baths(c_ops_per_bath, n)
    r = as_density_matrix(rho, "rho")
    check_dims(r, n, "rho", "H")
    bshape, Hj, Cs = _stack_baths(Hn, baths, [("rho", r.shape[:-2])])
    return _heat_core(Hj, tuple(Cs), to_jax(r))


@jax.jit
def _trace_log(X, rho):
    """Tr[X log ρ] for Hermitian X; zero eigenvalues of ρ handled as the exact limit (±inf or 0)."""
    n = rho.shape[-1]
    lam, V = jnp.linalg.eigh(0.5 * (rho + _dag(rho)))
    x = jnp.real(jnp.einsum("...ji,...jk,...ki->...i", jnp.conj(V), X, V))
    xcut = 100.0 * n * _EPS * jnp.max(jnp.abs(X), axis=(-2, -1), keepdims=True)[..., 0]
    kernel = lam <= _zero_cut(n)
    finite = jnp.where(kernel, 0.0, x * jnp.log(jnp.where(kernel, 1.0, lam)))
    sing = jnp.where(kernel & (x > xcut), -jnp.inf, 0.0) + jnp.where(kernel & (x < -xcut), jnp.inf, 0.0)
    return jnp.sum(finite + sing, axis=-1)


@jax.jit
def _epr_spohn(H, Cs, rho, rho_ks):
    total = 0.0
    for C, rk in zip(Cs, rho_ks):
        Lk = _rhs_core(H, C, rho)
        Lk = 0.5 * (Lk + _dag(Lk))
        total = total - _trace_log(Lk, rho) + _trace_log(Lk, rk)
    return total


@jax.jit
def _epr_betas(H, Cs, rho, betas):
    Call = jnp.concatenate(Cs, axis=-3)
    Lr = _rhs_core(H, Call, rho)
    Lr = 0.5 * (Lr + _dag(Lr))
    J = _heat_core(H, Cs, rho)
    return -_trace_log(Lr, rho) - jnp.sum(betas * J, axis=-1)


def entropy_production_rate(
    H: Any,
    c_ops_per_bath: Sequence[Sequence[Any]],
    rho: Any,
    betas: Any = None,
) -> jax.Array:
    """Entropy production rate (Spohn) of a system coupled to several baths, nats per time.

    ``σ = -Σ_k Tr[L_k(ρ) (ln ρ - ln ρ_k)] ≥ 0``, where ``L_k = -i[H, ·] + D_k`` is the generator
    with bath k alone and ``ρ_k`` its steady state (computed with :func:`steadystate`). When
    ``[H, ρ_k] = 0`` (e.g. Gibbs states) this is ``-Σ_k Tr[D_k(ρ)(ln ρ - ln ρ_k)]``. Each term is
    ≥ 0 by Spohn's inequality. With ``betas`` the bath states are taken to be Gibbs,
    ``ln ρ_k = -β_k H - ln Z_k``, so that

        σ = -Tr[L(ρ) ln ρ] - Σ_k β_k J_k = dS/dt - Σ_k β_k J_k

    (``J_k`` from :func:`heat_currents`). This is only ≥ 0 if the Gibbs state really is the fixed
    point of bath k (detailed balance, e.g. :func:`thermal_bath` on ``H = ω a†a``).

    Singular states: the logarithms are taken through ``eigh``; an eigenvalue ≤ ``10 n ε`` counts
    as zero and the term takes its exact limit: ``+inf`` when the dynamics moves population into
    a zero-eigenvalue direction of ρ (a pure state under thermal noise) or out of one of ρ_k (a
    zero-temperature bath), and 0 when it does not. Opposite infinities give NaN.

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        c_ops_per_bath: list over baths, each a list of collapse operators (..., n, n). Without
            ``betas``, each bath alone (with H) must have a unique steady state.
        rho: density matrix (..., n, n) at which σ is evaluated.
        betas: optional inverse temperatures, shape (n_baths,) or batch + (n_baths,), each
            finite and > 0.

    Returns:
        float64 ``jax.Array`` of shape (batch...), nats per unit time.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmaz, sigmam
        >>> H = 0.5 * sigmaz()
        >>> baths = [thermal_bath(sigmam(), 1.0, beta=2.0, omega=1.0)]
        >>> p = 1 / (1 + jnp.exp(2.0))                       # Gibbs excited population
        >>> gibbs = jnp.diag(jnp.array([p, 1 - p])).astype(complex)
        >>> abs(float(entropy_production_rate(H, baths, gibbs))) < 1e-12
        True
        >>> float(entropy_production_rate(H, baths, jnp.eye(2) / 2, betas=[2.0])) > 0
        True
    """
    Hn = as_operator(H, "H", hermitian=True, kind="Hamiltonian")
    n = Hn.shape[-1]
    baths = _baths(c_ops_per_bath, n)
    r = as_density_matrix(rho, "rho")
    check_dims(r, n, "rho", "H")
    extra = [("rho", r.shape[:-2])]
    if betas is not None:
        b = np.asarray(to_numpy(betas, "betas"))
        if np.any(np.abs(b.imag) > 0):
            raise ValueError(f"betas must be real, got {betas!r}")
        b = b.real
        if b.ndim == 0 or b.shape[-1] != len(baths):
            raise ValueError(f"betas must have shape (n_baths,) = ({len(baths)},) or batch + ({len(baths)},), got shape {b.shape}")
        if not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"betas must all be finite and > 0, got {b.ravel()[:6].tolist()}")
        extra.append(("betas", b.shape[:-1]))
    bshape, Hj, Cs = _stack_baths(Hn, baths, extra)
    rj = to_jax(r)
    if betas is not None:
        return _epr_betas(Hj, tuple(Cs), rj, jnp.asarray(b))
    from .steadystate import steadystate

    rho_ks = []
    for k, C in enumerate(Cs):
        try:
            rho_ks.append(steadystate(Hj, [C[..., j, :, :] for j in range(C.shape[-3])]))
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"c_ops_per_bath[{k}] together with H has no unique steady state ({err}); "
                "pass betas=... to use Gibbs reference states instead"
            ) from None
    return _epr_spohn(Hj, tuple(Cs), rj, tuple(rho_ks))


# --------------------------------------------------------------------------------------------
# two-point-measurement work statistics
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class WorkStatistics(ResultBase):
    """Work distribution of a unitary protocol under two projective energy measurements (TPM).

    Entry ``i = m * n + k`` pairs final level m (energy ``final_energies[m]``) with initial level k
    (``initial_energies[k]``): ``work[i] = E^f_m - E^i_k`` with probability
    ``probabilities[i] = p_k |<m_f|U|k_i>|²``.

    Attributes:
        work: (n²,) float64 work values (energy units).
        probabilities: (n²,) float64 joint probabilities; they sum to 1.
        mean_work: ⟨W⟩.
        exp_avg: ⟨exp(-βW)⟩.
        free_energy_difference: ΔF = -ln(Z_f/Z_i)/β of the Gibbs states of H(t_f), H(t_0).
        jarzynski_ratio: Z_f/Z_i = exp(-βΔF); equals ``exp_avg`` for a Gibbs initial state.
        beta: inverse temperature used.
        initial_energies, final_energies: (n,) eigenvalues of H(t_0) and H(t_f), ascending.
        unitary: (n, n) propagator U(t_f, t_0) in the computational basis.
        n_steps: number of Magnus steps used.
        error_estimate: step-doubling estimate of the error of ``unitary`` (operator norm).

    ``to_xarray()`` gives variables ``work``, ``probabilities`` (dim ``outcome``),
    ``initial_energies``/``final_energies`` (dims ``initial_level``/``final_level``) and ``unitary``
    (``row``, ``col``), and the scalars as attributes; ``save(path)`` writes it.
    """

    work: jax.Array = var("outcome", units="energy", long_name="work W = E^f_m - E^i_k")
    probabilities: jax.Array = var("outcome", long_name="joint probability p_k |<m_f|U|k_i>|^2")
    mean_work: float = attr()
    exp_avg: float = attr()
    free_energy_difference: float = attr()
    jarzynski_ratio: float = attr()
    beta: float = attr()
    initial_energies: jax.Array = var("initial_level", units="energy")
    final_energies: jax.Array = var("final_level", units="energy")
    unitary: jax.Array = var("row", "col", long_name="propagator U(t_f, t_0)")
    n_steps: int = attr(default=0)
    error_estimate: float = attr(default=float("nan"))

    def histogram(self, bins: int | Sequence[float] = 50, range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Probability mass of W per bin: returns ``(mass, edges)`` (NumPy), ``mass.sum() == 1``
        when the range covers all work values. ``bins``/``range`` as in ``numpy.histogram``.

        Example:
            >>> ws = tpm_work(lambda t: jnp.diag(jnp.array([0.0, 1.0 + t])), None, [0.0, 1.0], 1.0)
            >>> mass, edges = ws.histogram(4)
            >>> round(float(mass.sum()), 12)
            1.0
        """
        return np.histogram(np.asarray(self.work), bins=bins, range=range, weights=np.asarray(self.probabilities))

    def __str__(self) -> str:
        return (
            f"WorkStatistics(n={len(self.initial_energies)}, beta={self.beta:g}, <W>={self.mean_work:.6g}, "
            f"<exp(-bW)>={self.exp_avg:.12g}, Z_f/Z_i={self.jarzynski_ratio:.12g}, dF={self.free_energy_difference:.6g})"
        )


def _parse_hamiltonian(H_of_t: Any, args: dict) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Return ``Hs(ts) -> (len(ts), n, n)`` NumPy and n.

    Time functions follow the one rule of :mod:`nephlab.quantum.timedep` (``f(t)`` or
    ``f(t, args)`` by signature); they are sampled on the host, so NumPy functions are allowed.
    """
    if isinstance(H_of_t, list):
        if not H_of_t:
            raise ValueError("H_of_t is an empty list; the QuTiP list format is [H0, [H1, f1], ...]")
        const, terms = [], []
        for i, item in enumerate(H_of_t):
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise ValueError(f"H_of_t[{i}] must be a pair [H_k, f_k], got a sequence of length {len(item)}")
                op, f = item
                if not callable(f):
                    raise TypeError(
                        f"H_of_t[{i}][1] must be a Python function f(t) or f(t, args) returning a real number; "
                        f"got {type(f).__name__} (string and array coefficients are not supported)"
                    )
                label = f"H_of_t[{i}][1] (the coefficient `{function_name(f)}`)"
                terms.append((as_operator(op, f"H_of_t[{i}][0]", batch=False, hermitian=True, kind="Hamiltonian"),
                              time_function(f, label), label))
            else:
                const.append(as_operator(item, f"H_of_t[{i}]", batch=False, hermitian=True, kind="Hamiltonian"))
        ops = const + [t[0] for t in terms]
        n = ops[0].shape[-1]
        for i, op in enumerate(ops):
            check_dims(op, n, "H_of_t entries", "H_of_t's first operator")
        H0 = sum(const) if const else np.zeros((n, n), np.complex128)

        def Hs(ts):
            out = np.broadcast_to(H0, (len(ts), n, n)).copy()
            for op, f, label in terms:
                c = sample(f, ts, args, label, traced=False).astype(np.complex128)
                if c.shape != (len(ts),):
                    raise ValueError(f"{label} must return a real number, got shape {c.shape[1:]}")
                if np.any(np.abs(c.imag) > 1e-14 * np.maximum(1.0, np.abs(c.real))):
                    raise ValueError(f"{label} must be real for a Hermitian H(t); got {c[np.argmax(np.abs(c.imag))]}")
                if not np.all(np.isfinite(c.real)):
                    raise ValueError(f"{label} returned NaN or inf")
                out += c.real[:, None, None] * op
            return out

        return Hs, n

    if callable(H_of_t) and not hasattr(H_of_t, "full"):
        label = f"H_of_t (the callable `{function_name(H_of_t)}`)"
        f = time_function(H_of_t, label)

        def Hs(ts):
            return sample(f, ts, args, label, traced=False).astype(np.complex128)

        first = Hs(np.zeros(1))[0]
        if first.ndim != 2 or first.shape[0] != first.shape[1]:
            raise ValueError(f"H_of_t(t) must return a square (n, n) matrix, got shape {first.shape}")
        return Hs, first.shape[0]

    H0 = as_operator(H_of_t, "H_of_t", batch=False, hermitian=True, kind="Hamiltonian")
    n = H0.shape[-1]
    return (lambda ts: np.broadcast_to(H0, (len(ts), n, n))), n


def _degenerate_blocks(E: np.ndarray, tol: float) -> list[np.ndarray]:
    blocks, start = [], 0
    for i in range(1, len(E) + 1):
        if i == len(E) or E[i] - E[i - 1] > tol:
            blocks.append(np.arange(start, i))
            start = i
    return blocks


_MAX_STEPS = 2_000_000
_MAX_STEP_BYTES = 4e9


def tpm_work(
    H_of_t: Any,
    rho_thermal: Any,
    tlist: Any,
    beta: float,
    *,
    args: dict | None = None,
    dt: float | None = None,
    tol: float = 1e-10,
) -> WorkStatistics:
    """Two-point-measurement work statistics of a unitary protocol from ``tlist[0]`` to ``tlist[-1]``.

    Measure H(t_0) (outcome E^i_k with probability p_k), evolve with U = U(t_f, t_0), measure
    H(t_f) (outcome E^f_m): ``W = E^f_m - E^i_k`` with probability ``p_k |<m_f|U|k_i>|²``.
    Then ``⟨exp(-βW)⟩ = Z_f/Z_i`` (Jarzynski) when ρ is the Gibbs state of H(t_0) at β.

    U is the product of 4th-order Magnus steps (``exp(-iK)`` through ``eigh``, unitary to machine
    precision) with error control by step doubling
    (:func:`nephlab.quantum.propagator.adaptive_propagator`): every step is compared with two half
    steps and halved until the error estimates, summed over the protocol, are ≤ ``tol``; the
    error of U is then expected to be about ``tol / 15`` (operator norm), and cannot go below
    rounding (~1e-14 × number of steps). Steps start from ``ceil(Δt/dt)`` per interval of
    ``tlist``, by default from ``max(4, ceil(Δt · w / 0.1))`` with w the largest spectral width
    (E_max - E_min) of H at the ``tlist`` points; they never cross a point of ``tlist``.

    Note that ``⟨exp(-βW)⟩ = Z_f/Z_i`` holds to rounding for ANY unitary U, so it checks the
    bookkeeping, not the accuracy of U; ``tol`` is what controls that
    (``WorkStatistics.error_estimate`` reports it).

    Degenerate levels (gaps ≤ 1e-10 × max(1, max|E|)) are measured with the projector onto the
    eigenspace, as a projective TPM should: the initial eigenbasis inside each degenerate block
    is chosen to diagonalise the block of ρ, so every (m, k) entry is a genuine joint probability
    and sums over degenerate levels are basis independent. Final-level degeneracy needs no care
    (the sum over the block of |<m|U|k>|² is invariant).

    Args:
        H_of_t: the Hamiltonian (n, n), energy units (ħ = 1), as a callable ``H(t)`` or
            ``H(t, args)``; a QuTiP-format list ``[H0, [H1, f1], ...]`` with real coefficient
            functions ``f(t, args)`` (or ``f(t)``), meaning ``H0 + Σ f_k(t) H_k``; or a constant
            operator. NumPy/JAX arrays and ``Qobj`` are accepted.
        rho_thermal: initial state (n, n); ``None`` for the Gibbs state of H(t_0) at ``beta``.
            Only its populations in the eigenbasis of H(t_0) enter (the first measurement
            dephases it).
        tlist: increasing times (time units), at least two; only the grid matters, the protocol
            runs from ``tlist[0]`` to ``tlist[-1]``.
        beta: inverse temperature β > 0 (finite) for ``exp_avg``, ΔF and the default state.
        args: dict passed to ``H(t, args)`` / ``f(t, args)`` (default ``{}``). Time functions
            follow the rule of :mod:`nephlab.quantum.timedep`: ``f(t)`` or ``f(t, args)`` by
            signature; here (unlike ``mesolve``) they may also use NumPy, as H is sampled on
            the host.
        dt: optional largest initial Magnus step (time units), > 0; the error control may use
            smaller ones.
        tol: error target of the propagator U (dimensionless, > 0; default 1e-10), see above.

    Returns:
        :class:`WorkStatistics`.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmax, sigmaz
        >>> H = [0.5 * sigmaz(), [0.3 * sigmax(), lambda t, args: jnp.sin(t)]]
        >>> ws = tpm_work(H, None, jnp.linspace(0.0, 5.0, 11), beta=1.0)
        >>> abs(ws.exp_avg / ws.jarzynski_ratio - 1) < 1e-12, round(float(ws.probabilities.sum()), 12)
        (True, 1.0)
    """
    b = real_number(beta, "beta", positive=True)
    if args is not None and not isinstance(args, dict):
        raise TypeError(f"args must be a dict or None, got {type(args).__name__}")
    args = {} if args is None else args
    ts = time_grid(tlist, "tlist")
    gaps = np.diff(ts)
    if dt is not None:
        dt = real_number(dt, "dt", positive=True)
    tol = real_number(tol, "tol", positive=True)

    H_parsed, n = _parse_hamiltonian(H_of_t, args)

    def Hs(t):
        H = H_parsed(t)
        if H.shape != (len(t), n, n):
            raise ValueError(f"H_of_t(t) must return an (n, n) matrix with n={n}, got shape {H.shape[1:]}")
        check_finite(H, "H_of_t(t)")
        check_hermitian(H, "H_of_t(t)", "Hamiltonian")
        return H

    H_grid = Hs(ts)
    if dt is None:
        E = np.linalg.eigvalsh(H_grid)
        w = float(np.max(E[:, -1] - E[:, 0]))
        m = np.maximum(4, np.ceil(gaps * w / 0.1)).astype(np.int64)
    else:
        m = np.maximum(1, np.ceil(gaps / dt * (1 - 1e-12))).astype(np.int64)
    limit = int(min(_MAX_STEPS, _MAX_STEP_BYTES // (6 * n * n * 16)))
    if int(m.sum()) > limit:
        raise ValueError(
            f"the protocol needs {int(m.sum())} Magnus steps (n={n}), more than this function holds in memory "
            f"(limit {limit} steps / {_MAX_STEP_BYTES / 1e9:g} GB); pass a larger dt= or split the protocol"
        )
    U_np, n_steps, err = adaptive_propagator(Hs, ts, m, tol, limit)
    U = jnp.asarray(U_np)

    Hi, Hf = H_grid[0], H_grid[-1]
    Ei, Vi = np.linalg.eigh(0.5 * (Hi + Hi.conj().T))
    Ef, Vf = np.linalg.eigh(0.5 * (Hf + Hf.conj().T))
    log_zi = float(jax.scipy.special.logsumexp(-b * Ei))
    log_zf = float(jax.scipy.special.logsumexp(-b * Ef))

    if rho_thermal is None:
        p = np.exp(-b * Ei - log_zi)
    else:
        rho = as_density_matrix(rho_thermal, "rho_thermal")
        if rho.ndim != 2:
            raise ValueError(f"rho_thermal must be a single (n, n) state, got shape {rho.shape}")
        check_dims(rho, n, "rho_thermal", "H_of_t(t)")
        tol = 1e-10 * max(1.0, float(np.abs(Ei).max()))
        r_eig = Vi.conj().T @ rho @ Vi
        p = np.empty(n)
        for blk in _degenerate_blocks(Ei, tol):
            if len(blk) == 1:
                p[blk] = r_eig[blk[0], blk[0]].real
            else:
                lam, R = np.linalg.eigh(r_eig[np.ix_(blk, blk)])
                p[blk] = lam
                Vi[:, blk] = Vi[:, blk] @ R

    T = np.abs(Vf.conj().T @ np.asarray(U) @ Vi) ** 2  # T[m, k] = |<m_f|U|k_i>|²
    P = T * p[None, :]
    Wm = Ef[:, None] - Ei[None, :]
    work, prob = Wm.reshape(-1), P.reshape(-1)
    return WorkStatistics(
        work=jnp.asarray(work),
        probabilities=jnp.asarray(prob),
        mean_work=float(np.sum(prob * work)),
        exp_avg=float(np.sum(prob * np.exp(-b * work))),
        free_energy_difference=-(log_zf - log_zi) / b,
        jarzynski_ratio=float(np.exp(log_zf - log_zi)),
        beta=b,
        initial_energies=jnp.asarray(Ei),
        final_energies=jnp.asarray(Ef),
        unitary=U,
        n_steps=n_steps,
        error_estimate=err,
    )
