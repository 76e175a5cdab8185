"""Actor-critic networks (flax.linen) and the :class:`Policy` object that carries them.

The actor is an MLP giving the mean of a Gaussian policy in *normalised* action units ``z``,
with a state-independent log standard deviation; the critic is a separate MLP giving the value.
A :class:`Policy` holds the architecture, the parameters and the environment's observation and
action transforms, so that ``policy(obs)`` maps a physical observation to a physical action:
``z = actor((obs - obs_offset)/obs_scale)``, ``action = act_offset + act_scale z``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from .. import _config  # noqa: F401  (float64)

__all__ = ["ActorCritic", "Policy", "make_policy"]

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


class ActorCritic(nn.Module):
    """Gaussian actor and value critic, two separate MLPs.

    Attributes:
        action_size: dimension of the action. hidden: hidden layer widths, e.g. ``(64, 64)``.
        activation: ``"tanh"``, ``"relu"`` or ``"gelu"``. init_log_std: initial log std of the
            policy (normalised action units).
        dtype: parameter and computation dtype (default float64; PPO trains in float32, see
            ``PPOConfig.dtype``). Parameters of another dtype are promoted: a float64 network
            applied to float32 parameters computes in float64.

    ``apply(params, obs) -> (mean (..., action_size), log_std (action_size,), value (...))``.

    Example:
        >>> net = ActorCritic(action_size=1, hidden=(8,))
        >>> p = net.init(jax.random.key(0), jnp.zeros(2))
        >>> [x.shape for x in net.apply(p, jnp.zeros((5, 2)))]
        [(5, 1), (1,), (5,)]
    """

    action_size: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = -1.0
    dtype: Any = jnp.float64

    @nn.compact
    def __call__(self, obs):
        act = _ACTIVATIONS[self.activation]
        dense = lambda n, s: nn.Dense(n, kernel_init=nn.initializers.orthogonal(s), param_dtype=self.dtype,  # noqa: E731
                                      dtype=self.dtype)
        h = obs
        for n in self.hidden:
            h = act(dense(n, math.sqrt(2.0))(h))
        mean = dense(self.action_size, 0.01)(h)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_size,),
                             self.dtype)
        v = obs
        for n in self.hidden:
            v = act(dense(n, math.sqrt(2.0))(v))
        value = dense(1, 1.0)(v)[..., 0]
        return mean, log_std, value


@struct.dataclass
class Policy:
    """A trained (or initial) Gaussian policy: network + parameters + env transforms (a pytree).

    Calling it gives the deterministic *mean* action in physical units; it is JAX-traceable and
    accepts leading batch axes. Build one with :func:`make_policy`; PPO returns one in
    ``PPOResult.policy``; :func:`~nephlab.learn.save_policy` writes it.

    Attributes:
        params: flax parameters of :class:`ActorCritic`.
        obs_offset, obs_scale: ``(observation_size,)``; act_offset, act_scale: ``(action_size,)``.
        arch: ``(("action_size", m), ("hidden", (..)), ("activation", ..), ("observation_size", n))``
            (static).
        env_spec: the environment's ``spec()`` as a JSON string (static), ``""`` if unknown.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> pol = make_policy(TrapEnv("translation"), seed=0)
        >>> pol(jnp.array([0.0, 0.0])).shape
        (1,)
    """

    params: Any
    obs_offset: jax.Array
    obs_scale: jax.Array
    act_offset: jax.Array
    act_scale: jax.Array
    arch: tuple = struct.field(pytree_node=False, default=())
    env_spec: str = struct.field(pytree_node=False, default="")

    @property
    def network(self) -> ActorCritic:
        """The :class:`ActorCritic` module of this policy."""
        a = dict(self.arch)
        return ActorCritic(action_size=a["action_size"], hidden=tuple(a["hidden"]), activation=a["activation"])

    @property
    def observation_size(self) -> int:
        """Length of the observation vector."""
        return int(dict(self.arch)["observation_size"])

    def env(self):
        """The environment this policy was made for (rebuilt from :attr:`env_spec`)."""
        from .envs import make_env

        if not self.env_spec:
            raise ValueError("this policy records no environment (env_spec is empty)")
        return make_env(json.loads(self.env_spec))

    def normalise(self, obs):
        """``(obs - obs_offset)/obs_scale``."""
        return (jnp.asarray(obs, jnp.float64) - self.obs_offset) / self.obs_scale

    def distribution(self, obs):
        """``(mean_z, log_std_z, value)`` in normalised action units."""
        return self.network.apply(self.params, self.normalise(obs))

    def to_action(self, z):
        """Normalised ``z`` -> physical action."""
        return self.act_offset + self.act_scale * z

    def __call__(self, obs):
        """Deterministic (mean) physical action for ``obs`` ``(..., observation_size)``."""
        mean, _, _ = self.distribution(obs)
        return self.to_action(mean)

    def sample(self, key, obs):
        """A physical action drawn from the Gaussian policy."""
        mean, log_std, _ = self.distribution(obs)
        return self.to_action(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, jnp.float64))


def make_policy(env: Any, *, seed: int = 0, hidden: Sequence[int] = (64, 64), activation: str = "tanh",
                init_log_std: float = -1.0, env_params: Any = None) -> Policy:
    """A freshly initialised :class:`Policy` for ``env`` (its transforms at ``env_params``).

    Args:
        env: a nephlab.learn environment. seed: int seed of the initialisation.
        hidden: hidden layer widths. activation: ``"tanh"``, ``"relu"`` or ``"gelu"``.
        init_log_std: initial log std in normalised action units.
        env_params: environment parameters (default ``env.default_params``).

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> dict(make_policy(TrapEnv("stiffness"), hidden=(4,)).arch)["hidden"]
        (4,)
    """
    from .._validate import int_seed, one_of

    seed = int_seed(seed)
    one_of(activation, "activation", tuple(_ACTIVATIONS))
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden!r}")
    p = env.default_params if env_params is None else env_params
    arch = (("action_size", int(env.action_size)), ("hidden", hidden), ("activation", activation),
            ("observation_size", int(env.observation_size)))
    net = ActorCritic(action_size=env.action_size, hidden=hidden, activation=activation, init_log_std=init_log_std)
    params = net.init(jax.random.key(seed), jnp.zeros(env.observation_size, jnp.float64))
    oo, os_ = env.obs_transform(p)
    ao, as_ = env.action_transform(p)
    spec = json.dumps(env.spec()) if hasattr(env, "spec") else ""
    return Policy(params=params, obs_offset=jnp.asarray(oo), obs_scale=jnp.asarray(os_), act_offset=jnp.asarray(ao),
                  act_scale=jnp.asarray(as_), arch=arch, env_spec=spec)

