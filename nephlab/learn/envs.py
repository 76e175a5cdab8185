"""Pure-functional JAX environments for learned control (gymnax-style, float64).

Every environment is a small immutable object with

- ``env.default_params``: an immutable parameter pytree, validated at construction;
- ``env.reset(key, params) -> (obs, state)``;
- ``env.step(key, state, action, params) -> (obs, state, reward, done, info)``; a finished
  episode is reset automatically (the returned ``obs``/``state`` are those of the new episode,
  ``reward``/``done``/``info`` those of the last transition), as in gymnax;
- ``env.observation_size``, ``env.action_size`` (ints) and ``env.n_steps(params)`` (decisions
  per episode);
- ``env.obs_transform(params)`` and ``env.action_transform(params)``: ``(offset, scale)``
  arrays; a policy works in the normalised units ``(obs - offset)/scale`` and maps its output
  ``z`` to the physical action ``offset + scale z``.

``reset`` and ``step`` are jit- and vmap-able (over keys, states, actions and parameters). An
action of the wrong shape raises ``ValueError`` when ``step`` is called or traced. Parameters are
checked when the parameter object is built (``dataclasses.replace(env.default_params, tau=2.0)``
checks again): negative or zero times, rates and temperatures, and non-finite values raise a
``ValueError`` naming the argument.

Environments:

- :class:`TrapEnv`: overdamped Brownian particle in a dragged (``"translation"``) or squeezed
  (``"stiffness"``) harmonic trap; reward ``-(Sekimoto work)/kBT``; the episode return is
  ``-W/kBT`` of the piecewise-constant protocol, including the final jump to ``lam_f``
  (Schmiedl & Seifert, PRL 98, 108301 (2007));
- :class:`LinearQuadraticEnv`: ``dx = (A x + B u) dt + sigma dB`` with a quadratic cost;
- :class:`QubitEnv`: a driven two-level system, reward = state-transfer fidelity.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from .. import _config  # noqa: F401  (float64)
from .._validate import integer, is_traced, one_of, real_array

__all__ = [
    "Env",
    "LinearQuadraticEnv",
    "LQParams",
    "QubitEnv",
    "QubitParams",
    "TrapEnv",
    "TrapParams",
    "TrapState",
]


# --------------------------------------------------------------------------------------------
# validation of parameter leaves (concrete values are checked; tracers pass)
# --------------------------------------------------------------------------------------------
def _concrete(v: Any) -> bool:
    if is_traced(v):
        return False
    return isinstance(v, (int, float, np.integer, np.floating, np.ndarray, jax.Array)) and not isinstance(v, bool)


def _check_leaf(obj: Any, name: str, *, positive: bool = False, nonneg: bool = False) -> None:
    """Validate (and convert to float64) the field ``name`` of a parameter dataclass."""
    v = getattr(obj, name)
    if isinstance(v, bool) or isinstance(v, (str, bytes)) or v is None:
        raise TypeError(f"{name} must be a real number, got {v!r}")
    if not _concrete(v):
        return  # a tracer or a pytree placeholder: checked when it was concrete
    a = np.asarray(v)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {v!r} (dtype {a.dtype})")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if positive and not np.all(a > 0):
        raise ValueError(f"{name} must be > 0, got {v!r}")
    if nonneg and not np.all(a >= 0):
        raise ValueError(f"{name} must be >= 0, got {v!r}")
    if not isinstance(v, jax.Array):
        object.__setattr__(obj, name, float(a) if a.ndim == 0 else a)


def _check_action(action: Any, size: int) -> jax.Array:
    shape = jnp.shape(action)
    if shape != (size,):
        raise ValueError(f"action must have shape ({size},) (one value per control), got shape {shape}")
    return jnp.asarray(action, dtype=jnp.float64)


class Env:
    """Base of nephlab's environments: ``reset``, ``step`` (auto-reset) and ``step_env``.

    A subclass provides ``default_params``, ``observation_size``, ``action_size``,
    ``n_steps(params)``, ``reset(key, params)``, ``step_env(key, state, action, params)`` (one
    transition, no reset), ``obs_transform(params)``, ``action_transform(params)`` and a
    ``name``.
    """

    name: ClassVar[str] = "env"
    observation_size: int
    action_size: int

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        """One decision step, resetting a finished episode (see the module docstring).

        Args:
            key: ``jax.random`` key. state: the environment state. action: shape
                ``(action_size,)`` (physical units). params: parameters (default
                ``default_params``).

        Returns:
            ``(obs, state, reward, done, info)``: obs ``(observation_size,)``, reward and done
            scalars, info a dict of scalars.
        """
        params = self.default_params if params is None else params
        action = _check_action(action, self.action_size)
        k_step, k_reset = jax.random.split(key)
        obs, new_state, reward, done, info = self.step_env(k_step, state, action, params)
        obs_r, state_r = self.reset(k_reset, params)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), state_r, new_state)
        obs = jnp.where(done, obs_r, obs)
        return obs, state, reward, done, info

    def rollout(self, key: jax.Array, policy: Any, params: Any = None):
        """One episode with ``policy(obs) -> action`` (a JAX-traceable callable).

        Returns:
            dict with ``obs`` ``(n_steps, observation_size)``, ``action`` ``(n_steps,
            action_size)``, ``reward`` ``(n_steps,)`` and the per-step ``info`` entries.
        """
        params = self.default_params if params is None else params
        k0, k1 = jax.random.split(key)
        obs, state = self.reset(k0, params)

        def body(carry, k):
            obs, state = carry
            a = jnp.asarray(policy(obs), dtype=jnp.float64).reshape(self.action_size)
            o2, s2, r, _, info = self.step_env(k, state, a, params)
            return (o2, s2), dict(obs=obs, action=a, reward=r, **info)

        _, out = jax.lax.scan(body, (obs, state), jax.random.split(k1, self.n_steps(params)))
        return out


# --------------------------------------------------------------------------------------------
# harmonic trap
# --------------------------------------------------------------------------------------------
@struct.dataclass
class TrapParams:
    """Parameters of :class:`TrapEnv` (an immutable pytree; ``n_steps`` is static).

    Attributes:
        tau: duration of the protocol (> 0, time).
        lam_i, lam_f: initial and final protocol value (trap centre, length; or stiffness > 0,
            energy/length^2, for ``"stiffness"``).
        k: trap stiffness of the translation problem (> 0, energy/length^2).
        gamma: friction (> 0). kBT: thermal energy (> 0).
        n_steps: number of decisions (piecewise-constant intervals of length ``tau/n_steps``).

    Example:
        >>> TrapParams(tau=1.0, lam_i=0.0, lam_f=5.0).n_steps
        16
        >>> TrapParams(tau=-1.0, lam_i=0.0, lam_f=5.0)
        Traceback (most recent call last):
        ...
        ValueError: tau must be > 0, got -1.0
    """

    tau: Any = 1.0
    lam_i: Any = 0.0
    lam_f: Any = 5.0
    k: Any = 1.0
    gamma: Any = 1.0
    kBT: Any = 1.0
    n_steps: int = struct.field(pytree_node=False, default=16)

    def __post_init__(self):
        for name in ("tau", "k", "gamma", "kBT"):
            _check_leaf(self, name, positive=True)
        for name in ("lam_i", "lam_f"):
            _check_leaf(self, name)
        integer(self.n_steps, "n_steps")


@struct.dataclass
class TrapState:
    """State of :class:`TrapEnv`: position ``x``, Gaussian moments ``(mean, var)`` of ``x``,
    the current protocol value ``lam``, the decision index ``step`` and the work so far."""

    x: jax.Array
    mean: jax.Array
    var: jax.Array
    lam: jax.Array
    step: jax.Array
    work: jax.Array


class TrapEnv(Env):
    """Overdamped Brownian particle in a harmonic trap driven by a piecewise-constant protocol.

    Dynamics (Itô) ``gamma dx = -dU/dx dt + sqrt(2 gamma kBT) dB`` with
    ``U = k (x - lam)^2/2`` (``problem="translation"``, ``lam`` the trap centre) or
    ``U = lam x^2/2`` (``"stiffness"``, ``lam`` the stiffness). The particle starts in
    equilibrium at ``lam_i``. Decision ``j`` (``j = 0 .. n_steps-1``) sets ``lam`` to the action
    for ``t`` in ``[j, j+1) tau/n_steps``; between decisions ``x`` follows the exact
    Ornstein–Uhlenbeck transition (no time-step error). A stiffness action may be any finite
    number (a negative one is an inverted trap for that interval).

    Reward ``-(Sekimoto work)/kBT`` of the step: the energy jump ``U(x, lam_new) -
    U(x, lam_old)`` at the switch and, on the last decision, also the final jump to ``lam_f``
    at ``t = tau``. The episode return is therefore ``-W/kBT`` of the protocol, as in
    Schmiedl–Seifert, whose optimum is ``W* = gamma d^2/(tau + 2 gamma/k)`` for translation.

    Args:
        problem: ``"translation"`` or ``"stiffness"``.
        feedback: ``False`` (default): observation ``(t/tau, lam)``, the information of an
            open-loop protocol. ``True``: observation ``(t/tau, lam, x)``, a *feedback* problem
            (the controller sees the particle), whose optimum is below the open-loop ``W*``.
        exact_moments: propagate the Gaussian moments ``(mean, var)`` of ``x`` exactly and
            reward the exact *mean* work (noiseless; for checks). ``x`` is then the mean.
        **params: defaults of :class:`TrapParams` (``tau``, ``lam_i``, ``lam_f``, ``k``,
            ``gamma``, ``kBT``, ``n_steps``); ``"stiffness"`` defaults to ``lam_i=1, lam_f=4``.

    Example:
        >>> env = TrapEnv("translation", exact_moments=True)
        >>> p = env.default_params
        >>> obs, s = env.reset(jax.random.key(0), p)
        >>> obs.tolist()
        [0.0, 0.0]
        >>> lam = lambda o: jnp.array([2.5])   # hold the trap at 2.5 for the whole interval
        >>> w = float(-env.rollout(jax.random.key(1), lam, p)["reward"].sum())  # mean work W/kBT
        >>> m = 2.5 * (1 - math.exp(-1.0))          # <x(tau)> before the final jump
        >>> abs(w - (2.5**2 / 2 + ((5 - m) ** 2 - (2.5 - m) ** 2) / 2)) < 1e-12
        True
    """

    action_size = 1

    def __init__(self, problem: str = "translation", *, feedback: bool = False, exact_moments: bool = False,
                 **params: Any):
        self.problem = one_of(problem, "problem", ("translation", "stiffness"))
        self.feedback = bool(feedback)
        self.exact_moments = bool(exact_moments)
        defaults = {"lam_i": 1.0, "lam_f": 4.0} if problem == "stiffness" else {}
        self.default_params = TrapParams(**{**defaults, **params})
        if problem == "stiffness":
            for n in ("lam_i", "lam_f"):
                v = getattr(self.default_params, n)
                if _concrete(v) and np.any(np.asarray(v) <= 0):
                    raise ValueError(f"{n} is a stiffness in the 'stiffness' problem and must be > 0, got {v!r}")
        self.observation_size = 3 if feedback else 2
        self.name = f"trap-{problem}"

    def __repr__(self) -> str:
        return f"TrapEnv({self.problem!r}, feedback={self.feedback}, exact_moments={self.exact_moments})"

    def spec(self) -> dict:
        """The constructor arguments as a JSON-serialisable dict (for checkpoints)."""
        return {"class": "TrapEnv", "problem": self.problem, "feedback": self.feedback,
                "exact_moments": self.exact_moments, **_dataclass_fields(self.default_params)}

    def n_steps(self, params: TrapParams | None = None) -> int:
        """Decisions per episode."""
        return (self.default_params if params is None else params).n_steps

    def _kc(self, lam, p):
        if self.problem == "translation":
            return p.k + 0.0 * lam, lam
        return lam, 0.0 * lam

    def _energy(self, x, var, lam, p):
        """``U(x, lam)``, or its mean over N(x, var) (var = 0 for a sample)."""
        kap, c = self._kc(lam, p)
        return 0.5 * kap * ((x - c) ** 2 + var)

    def obs_transform(self, params: TrapParams | None = None):
        """``(offset, scale)`` of the observation: ``t/tau`` as is, ``lam`` (and ``x`` for
        translation) as the action (see :meth:`action_transform`)."""
        p = self.default_params if params is None else params
        off, sc = self.action_transform(p)
        if self.feedback:
            xs = sc if self.problem == "translation" else jnp.sqrt(p.kBT / jnp.asarray(p.lam_i, jnp.float64))
            xo = off if self.problem == "translation" else jnp.zeros(1)
            return (jnp.concatenate([jnp.zeros(1), off, xo.reshape(1)]),
                    jnp.concatenate([jnp.ones(1), sc, jnp.reshape(xs, (1,))]))
        return jnp.concatenate([jnp.zeros(1), off]), jnp.concatenate([jnp.ones(1), sc])

    def action_transform(self, params: TrapParams | None = None):
        """``(offset, scale)``: ``lam = (lam_i + lam_f)/2 + z |lam_f - lam_i|/2`` (scale 1 if
        ``lam_f = lam_i``), so that ``z = 0`` is the midpoint and ``z = ±1`` the end points."""
        p = self.default_params if params is None else params
        d = 0.5 * jnp.abs(jnp.asarray(p.lam_f, jnp.float64) - p.lam_i)
        mid = 0.5 * (jnp.asarray(p.lam_f, jnp.float64) + p.lam_i)
        return jnp.reshape(mid, (1,)), jnp.reshape(jnp.where(d > 0, d, 1.0), (1,))

    def _obs(self, state, p):
        t = state.step / p.n_steps
        parts = [jnp.reshape(t, (1,)).astype(jnp.float64), jnp.reshape(state.lam, (1,))]
        if self.feedback:
            parts.append(jnp.reshape(state.x, (1,)))
        return jnp.concatenate(parts)

    def reset(self, key: jax.Array, params: TrapParams | None = None):
        """Equilibrium at ``lam_i``: returns ``(obs, state)``."""
        p = self.default_params if params is None else params
        lam = jnp.asarray(p.lam_i, jnp.float64)
        kap, c = self._kc(lam, p)
        var = p.kBT / kap
        if self.exact_moments:
            x = c
        else:
            x = c + jnp.sqrt(var) * jax.random.normal(key, dtype=jnp.float64)
        state = TrapState(x=x, mean=c, var=var, lam=lam, step=jnp.int32(0), work=jnp.float64(0.0))
        return self._obs(state, p), state

    def step_env(self, key: jax.Array, state: TrapState, action: Any, params: TrapParams | None = None):
        """One transition without reset (see :meth:`Env.step`)."""
        p = self.default_params if params is None else params
        lam_new = _check_action(action, 1)[0]
        dt = p.tau / p.n_steps
        exact = self.exact_moments
        vv = state.var if exact else 0.0
        x = state.mean if exact else state.x
        w = self._energy(x, vv, lam_new, p) - self._energy(x, vv, state.lam, p)
        kap, c = self._kc(lam_new, p)
        a = kap / p.gamma
        e = jnp.exp(-a * dt)
        safe = jnp.where(kap == 0, 1.0, kap)
        add = jnp.where(kap == 0, 2.0 * p.kBT * dt / p.gamma, -p.kBT * jnp.expm1(-2.0 * a * dt) / safe)
        mean = c + (state.mean - c) * e
        var = state.var * e * e + add
        if exact:
            x_new = mean
        else:
            x_new = c + (state.x - c) * e + jnp.sqrt(add) * jax.random.normal(key, dtype=jnp.float64)
        step = state.step + 1
        done = step >= p.n_steps
        vv = var if exact else 0.0
        lam_f = jnp.asarray(p.lam_f, jnp.float64)
        w_end = self._energy(x_new, vv, lam_f, p) - self._energy(x_new, vv, lam_new, p)
        w = w + jnp.where(done, w_end, 0.0)
        new = TrapState(x=x_new, mean=mean, var=var, lam=lam_new, step=step, work=state.work + w)
        return self._obs(new, p), new, -w / p.kBT, done, {"work": w, "lam": lam_new}


# --------------------------------------------------------------------------------------------
# linear-quadratic
# --------------------------------------------------------------------------------------------
@struct.dataclass
class LQParams:
    """Parameters of :class:`LinearQuadraticEnv` (arrays; ``n_steps``, ``n_substeps`` static).

    Attributes:
        A (n, n), B (n, m): dynamics ``dx = (A x + B u) dt + sigma dB`` (1/time units).
        Q (n, n), R (m, m), QT (n, n): cost ``int (x^T Q x + u^T R u) dt + x(T)^T QT x(T)``.
        sigma (n, n): noise matrix (zero: deterministic).
        x0_mean (n,), x0_std (n,): the initial state ``x0 ~ N(x0_mean, diag(x0_std^2))``.
        tau: horizon ``T`` (> 0). n_steps: decisions; n_substeps: Euler–Maruyama steps each.
    """

    A: Any
    B: Any
    Q: Any
    R: Any
    QT: Any
    sigma: Any
    x0_mean: Any
    x0_std: Any
    tau: Any = 1.0
    n_steps: int = struct.field(pytree_node=False, default=20)
    n_substeps: int = struct.field(pytree_node=False, default=10)

    def __post_init__(self):
        for name in ("A", "B", "Q", "R", "QT", "sigma", "x0_mean"):
            _check_leaf(self, name)
        _check_leaf(self, "x0_std", nonneg=True)
        _check_leaf(self, "tau", positive=True)
        integer(self.n_steps, "n_steps")
        integer(self.n_substeps, "n_substeps")


@struct.dataclass
class LQState:
    """State of :class:`LinearQuadraticEnv`: ``x`` (n,), decision index, cost so far."""

    x: jax.Array
    step: jax.Array
    cost: jax.Array


class LinearQuadraticEnv(Env):
    """Linear system with quadratic cost: ``dx = (A x + B u) dt + sigma dB`` on ``[0, tau]``.

    The control ``u`` (m,) is held constant over each of the ``n_steps`` decision intervals;
    each interval is split into ``n_substeps`` substeps on which the drift is propagated exactly
    (matrix exponential) and the noise added as an Euler–Maruyama increment ``sigma dB``; the
    running cost uses the trapezoid rule on the substeps (error ``O(h^2)``, ``h`` the substep). Reward of a
    step = ``-(int x^T Q x + u^T R u dt)`` over the interval, and on the last step also
    ``-x(T)^T QT x(T)``; the return is minus the cost ``J``. Observation ``(t/tau, x)``
    (feedback). Compare with :func:`nephlab.control.lqr` (finite horizon, ``Qf = QT``): the
    optimal expected cost is ``E[x0^T P(0) x0] + int tr(sigma^T P sigma) dt``.

    Args:
        A, B, Q, R: matrices (scalars read as 1x1). QT: terminal weight (default zero).
        sigma: noise matrix (n, n) or scalar (times identity); default 0.
        x0_mean: (n,) mean initial state (default ones). x0_std: (n,) or scalar std (default 0).
        tau, n_steps, n_substeps: horizon and discretisation.

    Example:
        >>> env = LinearQuadraticEnv(-1.0, 1.0, 1.0, 1.0, n_steps=4)
        >>> env.observation_size, env.action_size
        (2, 1)
    """

    name = "linear-quadratic"

    def __init__(self, A: Any, B: Any, Q: Any, R: Any, *, QT: Any = None, sigma: Any = 0.0, x0_mean: Any = None,
                 x0_std: Any = 0.0, tau: float = 1.0, n_steps: int = 20, n_substeps: int = 10):
        A = real_array(A, "A", ndim=2, promote_scalar=True)
        n = A.shape[0]
        if A.shape != (n, n):
            raise ValueError(f"A must be square (n, n), got shape {A.shape}")
        B = real_array(B, "B", ndim=2, promote_scalar=True)
        if B.shape[0] != n:
            raise ValueError(f"B must have shape ({n}, m) to match A, got shape {B.shape}")
        m = B.shape[1]
        Q = real_array(Q, "Q", ndim=2, promote_scalar=True)
        R = real_array(R, "R", ndim=2, promote_scalar=True)
        QT = np.zeros((n, n)) if QT is None else real_array(QT, "QT", ndim=2, promote_scalar=True)
        for name, M, d in (("Q", Q, n), ("R", R, m), ("QT", QT, n)):
            if M.shape != (d, d):
                raise ValueError(f"{name} must have shape ({d}, {d}), got shape {M.shape}")
        if np.linalg.eigvalsh(0.5 * (R + R.T)).min() <= 0:
            raise ValueError(f"R must be positive definite, got {R.tolist()}")
        s = real_array(sigma, "sigma")
        s = s * np.eye(n) if s.ndim == 0 else s
        if s.shape != (n, n):
            raise ValueError(f"sigma must be a scalar or have shape ({n}, {n}), got shape {s.shape}")
        x0m = np.ones(n) if x0_mean is None else real_array(x0_mean, "x0_mean", ndim=1)
        if x0m.shape != (n,):
            raise ValueError(f"x0_mean must have shape ({n},), got shape {x0m.shape}")
        x0s = np.broadcast_to(real_array(x0_std, "x0_std"), (n,)).copy()
        self.default_params = LQParams(A=A, B=B, Q=Q, R=R, QT=QT, sigma=s, x0_mean=x0m, x0_std=x0s, tau=tau,
                                       n_steps=n_steps, n_substeps=n_substeps)
        self.observation_size = 1 + n
        self.action_size = m
        self.n = n

    def __repr__(self) -> str:
        return f"LinearQuadraticEnv(n={self.n}, m={self.action_size})"

    def spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (for checkpoints)."""
        p = self.default_params
        d = {f: np.asarray(getattr(p, f)).tolist() for f in ("A", "B", "Q", "R", "QT", "sigma", "x0_mean", "x0_std")}
        return {"class": "LinearQuadraticEnv", **d, "tau": float(p.tau), "n_steps": p.n_steps,
                "n_substeps": p.n_substeps}

    def n_steps(self, params: LQParams | None = None) -> int:
        """Decisions per episode."""
        return (self.default_params if params is None else params).n_steps

    def obs_transform(self, params: LQParams | None = None):
        """``(offset, scale)``: ``t/tau`` as is, ``x`` in units of ``max(|x0_mean|, x0_std, 1e-12)``."""
        p = self.default_params if params is None else params
        sc = jnp.maximum(jnp.max(jnp.abs(jnp.asarray(p.x0_mean))), jnp.max(jnp.asarray(p.x0_std)))
        sc = jnp.where(sc > 0, sc, 1.0)
        return jnp.zeros(self.observation_size), jnp.concatenate([jnp.ones(1), jnp.full(self.n, sc)])

    def action_transform(self, params: LQParams | None = None):
        """``(offset, scale)`` of the control: zero, and the state scale times ``|B|`` free (1)."""
        p = self.default_params if params is None else params
        _, s = self.obs_transform(p)
        return jnp.zeros(self.action_size), jnp.full(self.action_size, s[1])

    def reset(self, key: jax.Array, params: LQParams | None = None):
        """``x0 ~ N(x0_mean, diag(x0_std^2))``: returns ``(obs, state)``."""
        p = self.default_params if params is None else params
        x0 = jnp.asarray(p.x0_mean) + jnp.asarray(p.x0_std) * jax.random.normal(key, (self.n,), jnp.float64)
        s = LQState(x=x0, step=jnp.int32(0), cost=jnp.float64(0.0))
        return self._obs(s, p), s

    def _obs(self, s, p):
        return jnp.concatenate([jnp.reshape(s.step / p.n_steps, (1,)).astype(jnp.float64), s.x])

    def step_env(self, key: jax.Array, state: LQState, action: Any, params: LQParams | None = None):
        """One transition without reset (see :meth:`Env.step`)."""
        p = self.default_params if params is None else params
        u = _check_action(action, self.action_size)
        A, B, Q, R, S = (jnp.asarray(getattr(p, f)) for f in ("A", "B", "Q", "R", "sigma"))
        h = p.tau / (p.n_steps * p.n_substeps)

        # exact drift over a substep: [[A, B], [0, 0]] -> [[e^{Ah}, int_0^h e^{As} ds B], [0, I]]
        n, m = self.n, self.action_size
        aug = jnp.zeros((n + m, n + m)).at[:n, :n].set(A).at[:n, n:].set(B)
        E = jax.scipy.linalg.expm(aug * h)
        Ad, Bd = E[:n, :n], E[:n, n:]

        def sub(carry, k):
            x, c = carry
            c = c + (x @ Q @ x + u @ R @ u) * h
            x = Ad @ x + Bd @ u + S @ jax.random.normal(k, (self.n,), jnp.float64) * jnp.sqrt(h)
            return (x, c), None

        (x, c), _ = jax.lax.scan(sub, (state.x, jnp.float64(0.0)), jax.random.split(key, p.n_substeps))
        c = c + 0.5 * h * (x @ Q @ x - state.x @ Q @ state.x)  # left-point sum -> trapezoid rule
        step = state.step + 1
        done = step >= p.n_steps
        c = c + jnp.where(done, x @ jnp.asarray(p.QT) @ x, 0.0)
        new = LQState(x=x, step=step, cost=state.cost + c)
        return self._obs(new, p), new, -c, done, {"cost": c}


# --------------------------------------------------------------------------------------------
# qubit
# --------------------------------------------------------------------------------------------
@struct.dataclass
class QubitParams:
    """Parameters of :class:`QubitEnv`: duration ``tau`` (> 0, 1/energy, ħ = 1), detuning
    ``delta`` (energy), control bound ``u_max`` (> 0, energy), ``n_steps`` (static)."""

    tau: Any = 3.0
    delta: Any = 1.0
    u_max: Any = 4.0
    n_steps: int = struct.field(pytree_node=False, default=16)

    def __post_init__(self):
        _check_leaf(self, "tau", positive=True)
        _check_leaf(self, "delta")
        _check_leaf(self, "u_max", positive=True)
        integer(self.n_steps, "n_steps")


@struct.dataclass
class QubitState:
    """State of :class:`QubitEnv`: ``psi`` (2,) complex and the decision index."""

    psi: jax.Array
    step: jax.Array


class QubitEnv(Env):
    """Driven two-level system ``H(t) = (delta/2) sigma_z + (u(t)/2) sigma_x`` (ħ = 1).

    Built on :func:`nephlab.quantum.sigmaz`/:func:`~nephlab.quantum.sigmax` and
    :func:`~nephlab.quantum.basis`. The state starts in ``|0>`` (``sigma_z = +1``) and the goal
    is ``|1>``. The control ``u`` is constant over each of the ``n_steps`` intervals of length
    ``tau/n_steps`` (exact propagator ``exp(-i H dt)``); the action is clipped to
    ``[-u_max, u_max]`` (the control bound of the problem; ``info["u"]`` is the applied value).
    Reward: 0 until the last step, then the fidelity ``|<1|psi(tau)>|^2``, so the return is the
    transfer fidelity. Observation ``(t/tau, Re psi, Im psi)`` (5 values).

    Example:
        >>> env = QubitEnv(delta=0.0, tau=math.pi, u_max=1.0)   # a resonant pi pulse
        >>> out = env.rollout(jax.random.key(0), lambda o: jnp.array([1.0]))
        >>> round(float(out["reward"].sum()), 12)
        1.0
    """

    name = "qubit"
    observation_size = 5
    action_size = 1

    def __init__(self, **params: Any):
        self.default_params = QubitParams(**params)
        from ..quantum import basis, sigmax, sigmaz

        self._sx = np.asarray(sigmax())
        self._sz = np.asarray(sigmaz())
        self._psi0 = np.asarray(basis(2, 0)).reshape(2)
        self._target = np.asarray(basis(2, 1)).reshape(2)

    def __repr__(self) -> str:
        return "QubitEnv()"

    def spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (for checkpoints)."""
        return {"class": "QubitEnv", **_dataclass_fields(self.default_params)}

    def n_steps(self, params: QubitParams | None = None) -> int:
        """Decisions per episode."""
        return (self.default_params if params is None else params).n_steps

    def obs_transform(self, params: QubitParams | None = None):
        """Observations are already O(1): offset 0, scale 1."""
        return jnp.zeros(5), jnp.ones(5)

    def action_transform(self, params: QubitParams | None = None):
        """``u = u_max z``."""
        p = self.default_params if params is None else params
        return jnp.zeros(1), jnp.reshape(jnp.asarray(p.u_max, jnp.float64), (1,))

    def _obs(self, s, p):
        t = jnp.reshape(s.step / p.n_steps, (1,)).astype(jnp.float64)
        return jnp.concatenate([t, s.psi.real, s.psi.imag])

    def reset(self, key: jax.Array, params: QubitParams | None = None):
        """``|0>``: returns ``(obs, state)``."""
        p = self.default_params if params is None else params
        s = QubitState(psi=jnp.asarray(self._psi0, jnp.complex128), step=jnp.int32(0))
        return self._obs(s, p), s

    def step_env(self, key: jax.Array, state: QubitState, action: Any, params: QubitParams | None = None):
        """One transition without reset (see :meth:`Env.step`)."""
        p = self.default_params if params is None else params
        u = jnp.clip(_check_action(action, 1)[0], -p.u_max, p.u_max)
        dt = p.tau / p.n_steps
        H = 0.5 * p.delta * jnp.asarray(self._sz) + 0.5 * u * jnp.asarray(self._sx)
        w = 0.5 * jnp.sqrt(jnp.asarray(p.delta, jnp.float64) ** 2 + u**2)
        sinc = jnp.where(w > 0, jnp.sin(w * dt) / jnp.where(w > 0, w, 1.0), dt)
        U = jnp.cos(w * dt) * jnp.eye(2) - 1j * sinc * H
        psi = U @ state.psi
        step = state.step + 1
        done = step >= p.n_steps
        fid = jnp.abs(jnp.vdot(jnp.asarray(self._target), psi)) ** 2
        new = QubitState(psi=psi, step=step)
        return self._obs(new, p), new, jnp.where(done, fid, 0.0), done, {"fidelity": fid, "u": u}


def make_env(spec: dict) -> Env:
    """Rebuild an environment from :meth:`spec` (used by checkpoints).

    Example:
        >>> make_env(TrapEnv("stiffness").spec())
        TrapEnv('stiffness', feedback=False, exact_moments=False)
    """
    spec = dict(spec)
    cls = spec.pop("class", None)
    if cls == "TrapEnv":
        return TrapEnv(**spec)
    if cls == "QubitEnv":
        return QubitEnv(**spec)
    if cls == "LinearQuadraticEnv":
        A, B, Q, R = (spec.pop(k) for k in ("A", "B", "Q", "R"))
        return LinearQuadraticEnv(A, B, Q, R, **spec)
    if cls == "ParametricEnv":
        from .transfer import _make

        return _make({"class": cls, **spec})
    raise ValueError(f"spec['class'] must be 'TrapEnv', 'LinearQuadraticEnv', 'QubitEnv' or 'ParametricEnv', "
                     f"got {cls!r}")


def _dataclass_fields(p: Any) -> dict:
    """Parameter object -> dict of plain numbers/lists (for JSON headers)."""
    out = {}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        out[f.name] = v if isinstance(v, int) else np.asarray(v).tolist()
    return out


_ = math  # used in doctests
