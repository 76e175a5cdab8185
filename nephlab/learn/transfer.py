"""Policies conditioned on the system's parameters: train over a range, evaluate and fine-tune.

:class:`ParametricEnv` wraps an environment so that every episode draws some of its parameters
(e.g. ``k``, ``gamma``, ``lam_f``, ``tau`` of :class:`~nephlab.learn.envs.TrapEnv`) uniformly
from given ranges, and shows them to the policy. A policy trained on it by
:func:`~nephlab.learn.train_ppo` is one controller for a family of systems; :meth:`ParametricEnv.at`
fixes the parameters (also outside the training range) for evaluation or for fine-tuning
(``train_ppo(env.at(...), init_policy=result.policy, ...)``, which uses the fine-tuning recipe
:meth:`~nephlab.learn.PPOConfig.fine_tuning` unless given a ``config``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from .envs import Env, _check_action, make_env

__all__ = ["ParametricEnv", "ParametricState"]


@struct.dataclass
class ParametricState:
    """State of :class:`ParametricEnv`: the wrapped env's state and this episode's parameters."""

    base: Any
    params: Any


class ParametricEnv(Env):
    """An environment whose parameters ``names`` are drawn per episode from ``ranges``.

    Observation: the wrapped env's observation in its normalised units
    (``(obs - offset)/scale`` at this episode's parameters), followed by one feature per varied
    parameter, ``(value - centre)/half_width`` of its *training* range (in ``[-1, 1]`` inside
    it). Action: the wrapped env's *normalised* action ``z``; the physical action is
    ``offset + scale z`` with the wrapped env's :meth:`action_transform` at this episode's
    parameters (e.g. ``lam = (lam_i + lam_f)/2 + z |lam_f - lam_i|/2`` for a trap), so that one
    policy output means the same thing on every system. Rewards and ``info`` are those of the
    wrapped env.

    Args:
        base: a nephlab.learn environment (its ``default_params`` give the fixed values).
        ranges: ``{name: (low, high)}`` of parameters of ``base.default_params`` (``low <= high``);
            each bound is validated like the parameter itself.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> env = ParametricEnv(TrapEnv("translation", n_steps=8), {"k": (0.5, 2.0), "lam_f": (2.0, 6.0)})
        >>> env.observation_size
        4
        >>> env.at(k=3.0, lam_f=5.0).sample_ranges["k"]
        (3.0, 3.0)
    """

    def __init__(self, base: Env, ranges: dict, *, feature_ranges: dict | None = None):
        if not isinstance(base, Env):
            raise TypeError(f"base must be a nephlab.learn environment, got {type(base).__name__}")
        if not isinstance(ranges, dict) or not ranges:
            raise ValueError(f"ranges must be a non-empty dict {{name: (low, high)}}, got {ranges!r}")
        p = base.default_params
        fields = {f.name for f in dataclasses.fields(p)}
        static = {f.name for f in dataclasses.fields(p) if not f.metadata.get("pytree_node", True)}
        rng = {}
        for name, lh in ranges.items():
            if name not in fields or name in static:
                allowed = sorted(fields - static)
                raise ValueError(f"ranges: {name!r} is not a parameter that can vary; allowed: {allowed}")
            try:
                lo, hi = (float(v) for v in lh)
            except (TypeError, ValueError):
                raise ValueError(f"ranges[{name!r}] must be a pair (low, high) of numbers, got {lh!r}") from None
            if not lo <= hi:
                raise ValueError(f"ranges[{name!r}] = {lh!r} must have low <= high")
            for v in (lo, hi):  # the parameter's own checks (sign, finiteness)
                dataclasses.replace(p, **{name: v})
            rng[name] = (lo, hi)
        self.base = base
        self.sample_ranges = rng
        self.feature_ranges = dict(rng if feature_ranges is None else feature_ranges)
        self.names = tuple(rng)
        self.default_params = p
        self.observation_size = base.observation_size + len(rng)
        self.action_size = base.action_size
        self.name = f"parametric-{getattr(base, 'name', 'env')}"

    def __repr__(self) -> str:
        return f"ParametricEnv({self.base!r}, {self.sample_ranges})"

    def spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (for checkpoints)."""
        return {"class": "ParametricEnv", "base": self.base.spec(),
                "ranges": {k: list(v) for k, v in self.sample_ranges.items()},
                "feature_ranges": {k: list(v) for k, v in self.feature_ranges.items()}}

    def at(self, **values: float) -> "ParametricEnv":
        """The same env (same observation features) with parameters fixed at ``values``
        (unnamed varied parameters stay random over their ranges). Values may lie outside the
        training range."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ValueError(f"at(): {sorted(unknown)} are not varied parameters; allowed: {list(self.names)}")
        rng = {**self.sample_ranges, **{k: (float(v), float(v)) for k, v in values.items()}}
        return ParametricEnv(self.base, rng, feature_ranges=self.feature_ranges)

    def fixed_params(self, **values: float) -> Any:
        """The wrapped env's parameters with ``values`` set (validated)."""
        return dataclasses.replace(self.base.default_params, **values)

    def n_steps(self, params: Any = None) -> int:
        """Decisions per episode (of the wrapped env)."""
        return self.base.n_steps(self.default_params if params is None else params)

    def obs_transform(self, params: Any = None):
        """Identity: observations are already normalised."""
        return jnp.zeros(self.observation_size), jnp.ones(self.observation_size)

    def action_transform(self, params: Any = None):
        """Identity: the action is the wrapped env's normalised action."""
        return jnp.zeros(self.action_size), jnp.ones(self.action_size)

    def _features(self, p):
        out = []
        for n in self.names:
            lo, hi = self.feature_ranges[n]
            c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
            out.append((jnp.asarray(getattr(p, n), jnp.float64) - c) / (h if h > 0 else 1.0))
        return jnp.stack(out)

    def _obs(self, obs, p):
        off, sc = self.base.obs_transform(p)
        return jnp.concatenate([(obs - off) / sc, self._features(p)])

    def reset(self, key: jax.Array, params: Any = None):
        """Draw this episode's parameters and reset the wrapped env: ``(obs, state)``."""
        p = self.default_params if params is None else params
        k1, k2 = jax.random.split(key)
        u = jax.random.uniform(k1, (len(self.names),), jnp.float64)
        lo = jnp.asarray([self.sample_ranges[n][0] for n in self.names])
        hi = jnp.asarray([self.sample_ranges[n][1] for n in self.names])
        v = lo + (hi - lo) * u
        p = p.replace(**{n: v[i] for i, n in enumerate(self.names)})
        obs, st = self.base.reset(k2, p)
        return self._obs(obs, p), ParametricState(base=st, params=p)

    def step_env(self, key: jax.Array, state: ParametricState, action: Any, params: Any = None):
        """One transition of the wrapped env at this episode's parameters (no reset)."""
        z = _check_action(action, self.action_size)
        p = state.params
        off, sc = self.base.action_transform(p)
        obs, st, r, d, info = self.base.step_env(key, state.base, off + sc * z, p)
        return self._obs(obs, p), ParametricState(base=st, params=p), r, d, info


def _make(spec: dict) -> ParametricEnv:
    return ParametricEnv(make_env(spec["base"]), {k: tuple(v) for k, v in spec["ranges"].items()},
                         feature_ranges={k: tuple(v) for k, v in spec["feature_ranges"].items()})

