"""Proximal policy optimisation, PureJaxRL-style: one pure, jitted ``train(key)``.

:func:`make_train` returns a function in which the rollout of ``n_envs`` parallel environments,
generalised advantage estimation, the clipped surrogate, the value loss, the entropy bonus and the
minibatch epochs all run inside ``lax.scan``; it is ``vmap``-ped over seeds. The policy is a
flax :class:`~nephlab.learn.networks.ActorCritic` (Gaussian actor in normalised action units,
separate critic); the optimiser is Adam with global-norm clipping (and an optional linear
learning-rate decay), the steps of ``optax.chain(optax.clip_by_global_norm, optax.adam)``. For
speed on the CPU the gradient steps treat the parameters as one flat vector: Adam updates it in a
few fused kernels, and the loss gradient comes from a hand-written backward pass through the two
MLPs (tested equal to autodiff through flax and to optax's Adam). :func:`train_ppo` wraps it and returns a :class:`PPOResult`;
:func:`evaluate_policy` measures any policy (a :class:`~nephlab.learn.networks.Policy` or a plain
JAX-traceable callable ``obs -> action``) with many trajectories.

Reference: J. Schulman et al., arXiv:1707.06347 (PPO); C. Lu et al., PureJaxRL (2022).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .. import _config  # noqa: F401  (float64)
from .._result import ResultBase, attr, coord, var
from .._validate import int_seed, integer, one_of, positive_float, real_number
from .envs import Env, TrapEnv
from .networks import _ACTIVATIONS, ActorCritic, Policy, make_policy

__all__ = ["EvalResult", "PPOConfig", "PPOResult", "evaluate_policy", "make_train", "train_ppo"]


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of PPO (immutable; checked on construction).

    Attributes:
        lr: Adam learning rate (> 0). anneal_lr: decay it linearly to 0 over training.
        n_envs: parallel environments. n_steps: rollout length per update (``None``: one
            episode, ``env.n_steps(params)``).
        n_epochs: passes over each rollout. n_minibatches: minibatches per pass (must divide
            ``n_envs * n_steps``).
        gamma: discount in (0, 1]. gae_lambda: GAE lambda in [0, 1].
        clip_eps: PPO ratio clip (> 0). ent_coef: entropy bonus (>= 0). vf_coef: value-loss weight.
        max_grad_norm: global gradient-norm clip (> 0).
        hidden: hidden widths of actor and critic. activation: ``"tanh"``, ``"relu"``, ``"gelu"``.
        init_log_std: initial log std of the policy (normalised action units).
        reward_scale: rewards are multiplied by it for learning (returns are reported unscaled).
        normalize_advantages: standardise advantages per minibatch.
        fine_tune_log_std: when training starts from a given policy (``init_policy``), set its
            log std to this value first (restarts exploration); ``None`` keeps the policy's own.
            Ignored when training from scratch (``init_log_std`` applies there).
        dtype: ``"float32"`` (default) or ``"float64"``: the dtype of the networks' parameters,
            forward and backward passes, Adam moments, sampled normalised actions and
            log-probabilities. Environment physics, rewards, returns and GAE stay float64; the
            observations are normalised in float64 and cast at the network input, the advantages
            and value targets at the loss. ``"float64"`` reproduces the training of nephlab before
            the float32 default (slower: ``benchmarks/learn.py``).

    :meth:`fine_tuning` gives the recipe for fine-tuning a trained policy on a new system, which
    :func:`train_ppo` uses when it gets ``init_policy`` and no ``config``.

    Example:
        >>> PPOConfig(lr=1e-3).n_epochs
        4
        >>> PPOConfig().dtype
        'float32'
        >>> PPOConfig(gamma=1.5)
        Traceback (most recent call last):
        ...
        ValueError: gamma must be in (0, 1], got 1.5
    """

    lr: float = 3e-3
    n_envs: int = 64
    n_steps: int | None = None
    n_epochs: int = 4
    n_minibatches: int = 4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.05
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple = (64, 64)
    activation: str = "tanh"
    init_log_std: float = -2.0
    anneal_lr: bool = True
    anneal_ent: bool = True
    reward_scale: float = 1.0
    normalize_advantages: bool = True
    fine_tune_log_std: float | None = None
    dtype: str = "float32"

    def __post_init__(self):
        positive_float(self.lr, "lr")
        integer(self.n_envs, "n_envs")
        if self.n_steps is not None:
            integer(self.n_steps, "n_steps")
        integer(self.n_epochs, "n_epochs")
        integer(self.n_minibatches, "n_minibatches")
        g = real_number(self.gamma, "gamma")
        if not 0 < g <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")
        lam = real_number(self.gae_lambda, "gae_lambda")
        if not 0 <= lam <= 1:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda!r}")
        positive_float(self.clip_eps, "clip_eps")
        real_number(self.ent_coef, "ent_coef", nonneg=True)
        real_number(self.vf_coef, "vf_coef", nonneg=True)
        positive_float(self.max_grad_norm, "max_grad_norm")
        positive_float(self.reward_scale, "reward_scale")
        real_number(self.init_log_std, "init_log_std")
        one_of(self.activation, "activation", ("tanh", "relu", "gelu"))
        hidden = tuple(int(h) for h in self.hidden) if isinstance(self.hidden, (tuple, list)) else None
        if not hidden or any(h < 1 for h in hidden) or list(hidden) != list(self.hidden):
            raise ValueError(f"hidden must be a non-empty sequence of positive integer widths, got {self.hidden!r}")
        object.__setattr__(self, "hidden", hidden)
        if self.fine_tune_log_std is not None:
            real_number(self.fine_tune_log_std, "fine_tune_log_std")
        one_of(self.dtype, "dtype", ("float32", "float64"))

    @classmethod
    def fine_tuning(cls, **overrides: Any) -> "PPOConfig":
        """The configuration for fine-tuning a trained policy on a new system.

        ``lr=3e-4`` (a tenth of the default: small steps from a good start), ``ent_coef=0`` (no
        bonus pushing the std up), ``gae_lambda=1`` (advantages ``G - V``: the critic carried over
        from the old system, whose values are off by the change in the optimal work, is only a
        baseline and biases nothing) and ``fine_tune_log_std=-1`` (std 0.37 in normalised action
        units: the trained policy's std was annealed on the old system, and with it the first
        updates' policy gradient is buried in the thermal noise of the work). On trap translation
        (pretrained at k = 1, fine-tuned at k = 2.5) this reaches 1 % of W* in 0.05 (seeds 0-4)
        and 0.09 (held-out seeds 5-9) of the median environment steps that training from scratch
        needs (``benchmarks/learn_transfer.py``, float32 networks; 0.13 and 0.09 in float64).
        ``overrides`` replace any field.

        Example:
            >>> c = PPOConfig.fine_tuning()
            >>> c.lr, c.ent_coef, c.gae_lambda, c.fine_tune_log_std
            (0.0003, 0.0, 1.0, -1.0)
            >>> PPOConfig.fine_tuning(lr=1e-3).lr
            0.001
        """
        return cls(**{**dict(lr=3e-4, ent_coef=0.0, gae_lambda=1.0, fine_tune_log_std=-1.0), **overrides})

    def to_dict(self) -> dict:
        """As a JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def _check_env(env: Any) -> None:
    for a in ("reset", "step", "step_env", "default_params", "observation_size", "action_size"):
        if not hasattr(env, a):
            raise TypeError(f"env must be a nephlab.learn environment (with .{a}), got {type(env).__name__}")


def make_train(env: Env, config: PPOConfig, env_params: Any = None, *, n_updates: int,
               init_policy: Policy | None = None, callback: Callable | None = None,
               monitor: Callable | None = None) -> Callable:
    """The pure PPO training function ``train(key) -> (policy_params, returns)``.

    Args:
        env: environment. config: :class:`PPOConfig`. env_params: parameters (default
            ``env.default_params``).
        n_updates: number of PPO updates (each ``n_envs * n_steps`` environment steps).
        init_policy: start from this policy's parameters (fine-tuning) instead of a fresh init.
        callback: ``callback(update, mean_return)`` called from inside the jitted loop after
            each update (``jax.debug.callback``; for several seeds once per seed), e.g. to stream
            the training curve; an exception it raises stops training (JAX re-raises it wrapped
            in a ``JaxRuntimeError``).
        monitor: ``monitor(policy) -> scalar``, a JAX-traceable figure of merit of the current
            :class:`~nephlab.learn.networks.Policy` (e.g. the exact mean work of its mean
            protocol), evaluated inside the jitted loop after every update. It costs no
            environment steps of training; its values give steps-to-threshold from one run.

    Returns:
        ``train(key)``, pure and jit-able (vmap it over keys for several seeds); returns the final
        flax parameters (dtype ``config.dtype``; ``init_policy``'s are cast to it) and the mean
        episode return of each update, shape ``(n_updates,)`` (NaN for an update in which no
        episode finished); with ``monitor``, a third output: its value after each update, shape
        ``(n_updates,)``.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> env = TrapEnv("translation", n_steps=4)
        >>> train = make_train(env, PPOConfig(n_envs=8, hidden=(8,)), n_updates=2)
        >>> params, ret = jax.jit(train)(jax.random.key(0))
        >>> ret.shape
        (2,)
    """
    _check_env(env)
    p_env = env.default_params if env_params is None else env_params
    n_updates = integer(n_updates, "n_updates")
    c = config
    T = c.n_steps or env.n_steps(p_env)
    batch = c.n_envs * T
    if batch % c.n_minibatches:
        raise ValueError(f"n_minibatches={c.n_minibatches} must divide n_envs * n_steps = {batch}")
    mb = batch // c.n_minibatches
    n_grad = c.n_epochs * c.n_minibatches
    dt = jnp.dtype(c.dtype)
    template = init_policy if init_policy is not None else make_policy(
        env, seed=0, hidden=c.hidden, activation=c.activation, init_log_std=c.init_log_std, env_params=p_env)
    arch = dict(template.arch)
    net = ActorCritic(action_size=arch["action_size"], hidden=tuple(arch["hidden"]), activation=arch["activation"],
                      init_log_std=c.init_log_std, dtype=dt)
    act = _ACTIVATIONS[arch["activation"]]

    def lr_schedule(count):
        if not c.anneal_lr:
            return jnp.asarray(c.lr, dt)
        frac = 1.0 - (count // n_grad) / n_updates
        return (c.lr * frac).astype(dt)

    step_v = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_v = jax.vmap(env.reset, in_axes=(0, None))

    def net_obs(obs):  # normalised in float64, cast at the network input
        return template.normalise(obs).astype(dt)

    def logp(mean, log_std, z):
        return jnp.sum(-0.5 * ((z - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def train(key):
        k_init, k_reset, key = jax.random.split(key, 3)
        if init_policy is None:
            params = net.init(k_init, jnp.zeros(env.observation_size, dt))
        else:
            params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dt), init_policy.params)
            if c.fine_tune_log_std is not None:
                params = _set_log_std(params, c.fine_tune_log_std)
        theta, unravel = ravel_pytree(params)  # one flat vector: Adam and the gradient act on it whole
        layout = _layout(params)
        opt_state = _adam_init(theta)
        # the same random bits from here on, by an unrolled threefry (several times faster on CPU)
        k_reset, key = _unrolled_key(k_reset), _unrolled_key(key)
        obs, st = reset_v(jax.random.split(k_reset, c.n_envs), p_env)
        ep_ret = jnp.zeros(c.n_envs)

        def update(carry, i_upd):
            theta, opt_state, obs, st, ep_ret, key = carry

            def forward(x):  # the actor and critic from theta, as in the gradient steps (no flax apply)
                mean, _ = _mlp_forward(theta, layout[0], x, act)
                value, _ = _mlp_forward(theta, layout[1], x, act)
                return mean, theta[layout[2]:layout[2] + mean.shape[-1]], value[..., 0]

            def env_step(carry, _):
                obs, st, ep_ret, key = carry
                key, k_a, k_e = jax.random.split(key, 3)
                nobs = net_obs(obs)
                mean, log_std, value = forward(nobs)
                z = mean + jnp.exp(log_std) * jax.random.normal(k_a, mean.shape, dt)
                lp = logp(mean, log_std, z)
                action = template.act_offset + template.act_scale * z.astype(template.act_scale.dtype)
                obs2, st2, r, done, _ = step_v(jax.random.split(k_e, c.n_envs), st, action, p_env)
                ep_ret = ep_ret + r
                tr = dict(obs=nobs, z=z, logp=lp, value=value, reward=r * c.reward_scale, done=done,
                          ep_ret=jnp.where(done, ep_ret, 0.0))
                return (obs2, st2, jnp.where(done, 0.0, ep_ret), key), tr

            (obs, st, ep_ret, key), traj = jax.lax.scan(env_step, (obs, st, ep_ret, key), None, T)
            _, _, last_val = forward(net_obs(obs))

            def gae_step(carry, tr):
                gae, next_val = carry
                nonterm = 1.0 - tr["done"]
                delta = tr["reward"] + c.gamma * next_val * nonterm - tr["value"]
                gae = delta + c.gamma * c.gae_lambda * nonterm * gae
                return (gae, tr["value"]), gae

            # GAE in float64 (rewards are float64); cast for the loss
            _, adv = jax.lax.scan(gae_step, (jnp.zeros_like(last_val, jnp.float64), last_val), traj, reverse=True,
                                  unroll=True)
            targets = adv + traj["value"]

            ent_coef = (c.ent_coef * (1.0 - i_upd / n_updates) if c.anneal_ent else jnp.asarray(c.ent_coef)).astype(dt)

            data = dict(obs=traj["obs"], z=traj["z"], logp=traj["logp"], adv=adv.astype(dt),
                        target=targets.astype(dt))
            data = jax.tree_util.tree_map(lambda x: x.reshape((batch,) + x.shape[2:]), data)

            # all epochs x minibatches in one scan: one permutation of the batch per epoch, the data
            # gathered once in that order, the scan over contiguous minibatch blocks of it
            key, k_ep = jax.random.split(key)
            perms = jax.vmap(lambda k: _permutation(k, batch))(jax.random.split(k_ep, c.n_epochs))
            blocks = jax.tree_util.tree_map(lambda x: x[perms.reshape(-1)].reshape((n_grad, mb) + x.shape[1:]), data)
            if c.normalize_advantages:  # per minibatch; they do not depend on the parameters
                a = blocks["adv"]
                blocks["adv"] = (a - a.mean(axis=1, keepdims=True)) / (a.std(axis=1, keepdims=True) + 1e-8)

            def minibatch(carry, b):
                theta, opt_state = carry
                grads = _loss_grad(theta, layout, b, c, ent_coef, act)
                return _adam_step(theta, grads, opt_state, c, lr_schedule), None

            (theta, opt_state), _ = jax.lax.scan(minibatch, (theta, opt_state), blocks)
            n_done = traj["done"].sum()
            mean_ret = jnp.where(n_done > 0, traj["ep_ret"].sum() / jnp.maximum(n_done, 1), jnp.nan)
            if callback is not None:
                jax.debug.callback(callback, i_upd, mean_ret)
            out = mean_ret if monitor is None else (
                mean_ret, jnp.asarray(monitor(template.replace(params=unravel(theta)))))
            return (theta, opt_state, obs, st, ep_ret, key), out

        carry = (theta, opt_state, obs, st, ep_ret, key)
        (theta, *_), out = jax.lax.scan(update, carry, jnp.arange(n_updates))
        params = unravel(theta)
        return (params, out) if monitor is None else (params, *out)

    return train


def _layout(params) -> tuple:
    """Where :class:`ActorCritic`'s arrays lie in ``ravel_pytree(params)``: ``(actor, critic,
    log_std, order)``. Each layer is ``(offset, n_in, n_out)`` of its ``[bias; kernel]`` block,
    which is contiguous there (flax's ``bias`` sorts before ``kernel``); ``log_std`` is its offset;
    ``order`` the names of the layers (``"Dense_i"``) and ``"log_std"`` in the vector's order."""
    where, order, off = {}, [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = path[1].key
        if name == "log_std":
            where[name] = off
            order.append(name)
        elif path[2].key == "kernel":
            n_in, n_out = leaf.shape
            where[name] = (off - n_out, n_in, n_out)
            order.append(name)
        off += leaf.size
    n = (len(where) - 1) // 2
    actor = tuple(where[f"Dense_{i}"] for i in range(n))
    critic = tuple(where[f"Dense_{i}"] for i in range(n, 2 * n))
    return actor, critic, where["log_std"], tuple(order)


_NARROW = 4  # input widths up to this take broadcast / vector-matrix products instead of matrix products


def _mlp_forward(theta, layers, x, act):
    """Forward pass of one MLP stored in ``theta``: ``(output, [(input, act_vjp)])``."""
    saved = []
    h = x
    for i, (off, n_in, n_out) in enumerate(layers):
        m = theta[off:off + (n_in + 1) * n_out].reshape(n_in + 1, n_out)
        if n_in <= _NARROW:  # a few input columns: broadcast products, one kernel with the bias and activation
            y = m[0] + sum(h[:, k:k + 1] * m[1 + k] for k in range(n_in))
        else:
            y = h @ m[1:] + m[0]
        saved.append((h, m))
        if i < len(layers) - 1:
            y, vjp = jax.vjp(act, y)
            saved[-1] = (h, m, vjp)
        h = y
    return h, saved


def _mlp_backward(saved, delta):
    """Gradients ``[bias; kernel]`` (flattened, in layer order) of an MLP from ``delta = dL/d output``."""
    grads = []
    for i in range(len(saved) - 1, -1, -1):
        h, m = saved[i][:2]
        if i < len(saved) - 1:
            delta = saved[i][2](delta)[0]
        # thin blocks (one output column, or a few input columns) as vector-matrix products, which
        # need no transposed copy; otherwise h.T materialised (the barrier keeps XLA from folding
        # the transpose back into the dot): XLA's CPU backend runs a product contracting both
        # operands' leading axes through Eigen, ~1.4x slower at 128x64x64 than a transposed copy
        # and YNNPACK's kernel
        if delta.shape[-1] == 1:
            dk = (delta[:, 0] @ h)[:, None]
        elif h.shape[-1] <= _NARROW:
            dk = jnp.stack([h[:, k] @ delta for k in range(h.shape[-1])])
        else:
            dk = jax.lax.optimization_barrier(h.T) @ delta
        grads.append(jnp.concatenate([delta.sum(0)[None], dk]).reshape(-1))
        if i > 0:  # one output column: an outer product, exactly the broadcast product
            delta = delta * m[1:, 0] if delta.shape[-1] == 1 else delta @ m[1:].T
    return grads[::-1]


def _loss_grad(theta, layout, b, c, ent_coef, act):
    """Gradient of PPO's loss (as ``loss_fn`` in :func:`make_train`) with respect to the flat
    parameter vector ``theta`` of an :class:`ActorCritic`, by a hand-written backward pass."""
    actor, critic, i_ls, order = layout
    x = b["obs"]
    mean, sa = _mlp_forward(theta, actor, x, act)
    value, sc = _mlp_forward(theta, critic, x, act)
    value = value[..., 0]
    log_std = theta[i_ls:i_ls + mean.shape[-1]]
    n = x.shape[0]
    inv_var = jnp.exp(-2.0 * log_std)
    dz = b["z"] - mean
    lp = jnp.sum(-0.5 * dz * dz * inv_var - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
    ratio = jnp.exp(lp - b["logp"])
    a = b["adv"]
    clipped = jnp.clip(ratio, 1 - c.clip_eps, 1 + c.clip_eps)
    # d(-mean(min(r a, clip(r) a)))/dr: the unclipped branch where it is the smaller (or equal)
    d_ratio = jnp.where(ratio * a <= clipped * a, -a / n, 0.0)
    d_lp = (d_ratio * ratio)[:, None]
    d_mean = d_lp * dz * inv_var
    d_log_std = jnp.sum(d_lp * (dz * dz * inv_var - 1.0), axis=0) - ent_coef
    d_value = (c.vf_coef / n) * (value - b["target"])
    ga = _mlp_backward(sa, d_mean)
    gc = _mlp_backward(sc, d_value[:, None])
    pieces = dict(zip([f"Dense_{i}" for i in range(len(ga) + len(gc))], ga + gc), log_std=d_log_std)
    return jnp.concatenate([pieces[k] for k in order])


_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-5


def _adam_init(theta: jax.Array) -> tuple:
    """Adam's state for a flat parameter vector: ``(count, mu, nu)``."""
    return jnp.zeros((), jnp.int32), jnp.zeros_like(theta), jnp.zeros_like(theta)


def _adam_step(theta: jax.Array, g: jax.Array, state: tuple, c: PPOConfig, lr: Callable) -> tuple:
    """One step of ``optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(lr, eps=1e-5))``
    on a flat parameter vector ``theta`` with gradient ``g``; returns ``(theta, state)``.

    The same arithmetic as optax's, written over one vector so that XLA makes a few kernels of it
    instead of several per parameter array (the gradient norm is summed in one pass, not per array
    and then added: the same up to float rounding).
    """
    count, mu, nu = state
    g_norm = jnp.sqrt(jnp.sum(g * g))
    g = jnp.where(g_norm < c.max_grad_norm, g, (g / g_norm) * jnp.asarray(c.max_grad_norm, g.dtype))
    mu = (1 - _ADAM_B1) * g + _ADAM_B1 * mu
    nu = (1 - _ADAM_B2) * (g * g) + _ADAM_B2 * nu
    count_inc = jnp.where(count < jnp.iinfo(jnp.int32).max, count + 1, count)
    mu_hat = mu / (1 - _ADAM_B1 ** count_inc).astype(mu.dtype)
    nu_hat = nu / (1 - _ADAM_B2 ** count_inc).astype(nu.dtype)
    step = jnp.asarray(-lr(count), theta.dtype) * (mu_hat / (jnp.sqrt(nu_hat) + _ADAM_EPS))
    return (theta + step).astype(theta.dtype), (count_inc, mu, nu)


def _threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple:
    """The Threefry-2x32 hash (20 rounds), unrolled: the same bits as JAX's ``threefry2x32``,
    which its CPU lowering runs as a rolled 5-step loop (some 80 small kernels per call)."""
    rot = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in rot[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ ((x2 << np.uint32(r)) | (x2 >> np.uint32(32 - r)))
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _counts(shape) -> tuple:
    n = math.prod(shape)
    if n >= 2 ** 32:
        raise NotImplementedError("more than 2**32 random words in one call")
    lo = jnp.arange(n, dtype=jnp.uint32).reshape(shape)
    return jnp.zeros_like(lo), lo


def _fry_split(key: jax.Array, shape) -> jax.Array:
    b1, b2 = _threefry2x32(key[0], key[1], *_counts(tuple(shape)))
    return jnp.stack([b1, b2], axis=b1.ndim)


def _fry_bits(key: jax.Array, bit_width: int, shape) -> jax.Array:
    b1, b2 = _threefry2x32(key[0], key[1], *_counts(tuple(shape)))
    if bit_width == 64:
        return (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)
    dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
    return (b1 ^ b2).astype(dtype)


def _fry_seed(seed: jax.Array) -> jax.Array:
    return jax.random.key_data(jax.random.key(seed, impl="threefry2x32"))


def _fry_fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    k = jax.random.wrap_key_data(key, impl="threefry2x32")
    return jax.random.key_data(jax.random.fold_in(k, data))


_UNROLLED_THREEFRY = jax.extend.random.define_prng_impl(
    key_shape=(2,), seed=_fry_seed, split=_fry_split, random_bits=_fry_bits, fold_in=_fry_fold_in,
    name="threefry2x32 (unrolled)", tag="nfry")


def _unrolled_key(key: jax.Array) -> jax.Array:
    """``key`` (a ``threefry2x32`` key, typed or raw) as a key whose ``jax.random`` draws are the
    same bits, computed by the unrolled hash; any other key is returned as it is.

    JAX's threefry is "partitionable" by default (``jax_threefry_partitionable``): ``split`` and
    ``random_bits`` hash the flat index of each output word; :func:`_fry_split` and
    :func:`_fry_bits` do that (tested equal to JAX's draws), so only in that mode is the key
    converted.
    """
    if not jax.config.jax_threefry_partitionable:
        return key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(key)) != "threefry2x32":
            return key
        data = jax.random.key_data(key)
    elif key.dtype == jnp.uint32 and key.shape[-1:] == (2,) and jax.config.jax_default_prng_impl == "threefry2x32":
        data = key
    else:
        return key
    return jax.random.wrap_key_data(data, impl=_UNROLLED_THREEFRY)


def _permutation(key: jax.Array, n: int) -> jax.Array:
    """``jax.random.permutation(key, n)``, the same permutation, several times faster on CPU.

    JAX sorts the indices by fresh 32 random bits per index, stably, in ``ceil(3 ln n / ln(2**32 - 1))``
    rounds (one for ``n <= 1625``). Here each round packs ``(bits, position)`` into one uint64 and
    sorts that alone, which XLA's CPU sort does ~4x faster than the key-value sort with which
    JAX sorts (four permutations of 512: ~80 instead of ~330 us); the order, ties included, is the
    same.

    Example:
        >>> k = jax.random.key(3)
        >>> bool((_permutation(k, 512) == jax.random.permutation(k, 512)).all())
        True
    """
    rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))
    width = max(1, (n - 1).bit_length())
    pos = jnp.arange(n, dtype=jnp.uint64)
    x = jnp.arange(n)
    for _ in range(rounds):
        key, sub = jax.random.split(key)
        bits = jax.random.bits(sub, (n,), jnp.uint32)
        order = jnp.sort((bits.astype(jnp.uint64) << width) | pos) & ((1 << width) - 1)
        x = x[order]
    return x


def _set_log_std(params, log_std):
    inner = dict(params["params"])
    inner["log_std"] = jnp.full_like(inner["log_std"], log_std)
    return {**params, "params": inner}


@dataclass(frozen=True, repr=False)
class EvalResult(ResultBase):
    """Mean figure of merit of a policy over ``n_traj`` trajectories, with its standard error.

    Attributes:
        mean, se: the mean cost (``"work"``: energy, for :class:`TrapEnv`; ``"cost"`` for
            :class:`LinearQuadraticEnv`; ``"fidelity"`` for :class:`QubitEnv`) and its standard
            error ``std/sqrt(n_traj)``.
        mean_return, return_se: the same for the episode return.
        quantity: which quantity ``mean`` is. n_traj: number of trajectories.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> env = TrapEnv("translation", exact_moments=True)
        >>> r = evaluate_policy(lambda o: jnp.array([2.5]), env, n_traj=2, seed=0)
        >>> r.quantity, round(r.se, 12)
        ('work', 0.0)
    """

    mean: float = var(long_name="mean cost (work, cost or fidelity)")
    se: float = var(long_name="standard error of the mean")
    mean_return: float = var(long_name="mean episode return")
    return_se: float = var(long_name="standard error of the mean return")
    quantity: str = attr()
    n_traj: int = attr()

    def __str__(self) -> str:
        return f"EvalResult({self.quantity} = {self.mean:.6g} ± {self.se:.2g}, n_traj={self.n_traj})"


def _merit(env: Any, returns: jax.Array, info: dict, params: Any) -> tuple[str, jax.Array]:
    if "work" in info:
        return "work", info["work"].sum(axis=-1)
    if "cost" in info:
        return "cost", info["cost"].sum(axis=-1)
    if "fidelity" in info:
        return "fidelity", info["fidelity"][..., -1]
    return "return", returns


def evaluate_policy(policy: Any, env: Env, n_traj: int = 10_000, seed: int = 0, params: Any = None,
                    *, batch: int = 100_000) -> EvalResult:
    """Mean cost of a deterministic policy over ``n_traj`` independent episodes.

    Args:
        policy: a :class:`~nephlab.learn.networks.Policy` (its mean action is used) or any
            JAX-traceable callable ``obs (observation_size,) -> action (action_size,)`` (e.g.
            an exact protocol as a function of ``obs[0] = t/tau``).
        env: the environment. n_traj: number of episodes (>= 2). seed: int seed.
        params: environment parameters (default ``env.default_params``).
        batch: episodes per vectorised call (memory bound).

    Returns:
        :class:`EvalResult` (work in energy units for :class:`TrapEnv`).

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> env = TrapEnv("translation")
        >>> r = evaluate_policy(lambda o: jnp.array([2.5]), env, n_traj=1000, seed=1)
        >>> abs(r.mean - 8.5492) < 4 * r.se
        True
    """
    _check_env(env)
    if not callable(policy):
        raise TypeError(f"policy must be a Policy or a callable obs -> action, got {type(policy).__name__}")
    n_traj = integer(n_traj, "n_traj", minimum=2)
    seed = int_seed(seed)
    p = env.default_params if params is None else params
    if isinstance(policy, Policy) and policy.observation_size != env.observation_size:
        raise ValueError(f"policy expects observations of size {policy.observation_size}, but env "
                         f"{env!r} gives {env.observation_size}")
    run = _eval_fn(env, policy, p)
    keys = jax.random.split(jax.random.key(seed), n_traj)
    rets, mers = [], []
    name = "return"
    for i in range(0, n_traj, batch):
        name, r, m = run(keys[i:i + batch])
        rets.append(np.asarray(r))
        mers.append(np.asarray(m))
    r, m = np.concatenate(rets), np.concatenate(mers)
    sq = math.sqrt(n_traj)
    return EvalResult(mean=float(m.mean()), se=float(m.std(ddof=1) / sq), mean_return=float(r.mean()),
                      return_se=float(r.std(ddof=1) / sq), quantity=name, n_traj=n_traj)


def _eval_one(env, policy, p, k):
    """Return and figure of merit of one episode: ``(name, return, merit)``."""
    out = env.rollout(k, policy, p)
    ret = out["reward"].sum()
    info = {kk: v for kk, v in out.items() if kk not in ("obs", "action", "reward")}
    name, m = _merit(env, ret, info, p)
    return name, ret, m


@functools.partial(jax.jit, static_argnames="env")
def _eval_policy_batch(keys, policy, p, *, env):
    """``(returns, merits)`` of a :class:`Policy` (a pytree: traced, so one compilation serves
    every policy of the same architecture on the same env object and parameter shapes)."""
    return jax.vmap(lambda k: _eval_one(env, policy, p, k)[1:])(keys)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _eval_fn(env, policy, p):
    names = {}
    if isinstance(policy, Policy) and _hashable(env):
        def probe(k):
            name, r, m = _eval_one(env, policy, p, k)
            names["n"] = name
            return r, m

        def call(keys):
            if "n" not in names:  # the merit's name, from a trace of one episode (nothing compiled)
                jax.eval_shape(probe, keys[0])
            r, m = _eval_policy_batch(keys, policy, p, env=env)
            return names["n"], r, m

        return call

    @jax.jit
    def run(keys):
        def one(k):
            name, ret, m = _eval_one(env, policy, p, k)
            names["n"] = name
            return ret, m

        return jax.vmap(one)(keys)

    def call(keys):
        r, m = run(keys)
        return names["n"], r, m

    return call


@dataclass(frozen=True, repr=False)
class PPOResult(ResultBase):
    """Result of :func:`train_ppo`.

    Attributes:
        returns: mean episode return per update and seed, ``(n_seeds, n_updates)``.
        env_steps: environment steps done after each update, ``(n_updates,)``.
        policy: the :class:`~nephlab.learn.networks.Policy` of the seed with the best final
            return (``best_seed``). policies: one policy per seed.
        train_time: wall time of training, including compilation (s).
        env_name, config: the environment's name and the :class:`PPOConfig` as JSON.
        monitor: the ``monitor(policy)`` value after each update, ``(n_seeds, n_updates)``, or
            None when :func:`train_ppo` got no ``monitor``.

    ``history`` (= ``to_xarray()``): ``returns`` (and ``monitor``) over (``seed``, ``update``)
    with ``env_steps`` as a coordinate.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> res = train_ppo(TrapEnv("translation", n_steps=4), total_steps=256, n_envs=16, seed=0,
        ...                 config=PPOConfig(hidden=(8,)))  # doctest: +SKIP
        >>> res.history.returns.dims  # doctest: +SKIP
        ('seed', 'update')
    """

    returns: np.ndarray = var("seed", "update", long_name="mean episode return")
    env_steps: np.ndarray = coord("update", long_name="environment steps")
    best_seed: int = attr()
    train_time: float = attr()
    env_name: str = attr()
    config: str = attr()
    monitor: np.ndarray | None = var("seed", "update", long_name="monitored figure of merit", default=None)
    policy: Policy = field(default=None, repr=False)
    policies: tuple = field(default=(), repr=False)
    env: Any = field(default=None, repr=False)
    env_params: Any = field(default=None, repr=False)

    @property
    def history(self):
        """The training curve as an ``xarray.Dataset`` (see the class docstring)."""
        return self.to_xarray()

    def steps_to(self, threshold: float, *, stay: bool = True) -> np.ndarray:
        """Environment steps until :attr:`monitor` is ``<= threshold``, per seed, ``(n_seeds,)``.

        With ``stay=True`` (default) the count ends at the first update from which the monitor
        stays ``<= threshold`` until the end of training (so a lucky excursion does not count);
        with ``stay=False`` at the first update at which it is. NaN for a seed that does not
        reach it. Steps are counted in whole updates (``n_envs * n_steps`` each), the monitor
        being evaluated after each.

        Raises:
            ValueError: the run had no ``monitor``.

        Example:
            >>> r = PPOResult(returns=np.zeros((1, 3)), env_steps=np.array([10, 20, 30]), best_seed=0,
            ...               train_time=0.0, env_name="x", config="{}", monitor=np.array([[3.0, 1.0, 2.0]]))
            >>> r.steps_to(2.5).tolist(), r.steps_to(1.5, stay=False).tolist(), r.steps_to(0.5).tolist()
            ([20.0], [20.0], [nan])
        """
        if self.monitor is None:
            raise ValueError("steps_to(): this run has no monitor (pass monitor= to train_ppo)")
        thr = real_number(threshold, "threshold")
        ok = np.asarray(self.monitor) <= thr
        if stay:
            ok = np.flip(np.logical_and.accumulate(np.flip(ok, axis=1), axis=1), axis=1)
        first = np.argmax(ok, axis=1)
        return np.where(ok.any(axis=1), self.env_steps[first].astype(float), np.nan)

    def evaluate(self, n_traj: int = 10_000, seed: int = 0, params: Any = None) -> EvalResult:
        """:func:`evaluate_policy` of :attr:`policy` on the training environment (mean action)."""
        return evaluate_policy(self.policy, self.env, n_traj, seed, self.env_params if params is None else params)

    def protocol(self, times: Any) -> np.ndarray:
        """The mean-action path of an open-loop policy at ``times``, shape ``times.shape + (action_size,)``
        (squeezed for a single action).

        Decision ``j`` holds on ``[j, j+1) tau/n_steps``; ``times >= tau`` give ``lam_f`` for
        :class:`TrapEnv`. Raises ``ValueError`` for a feedback ``TrapEnv``.
        """
        return policy_protocol(self.policy, self.env, times, self.env_params)


def policy_protocol(policy: Any, env: Env, times: Any, params: Any = None) -> np.ndarray:
    """The mean-action path of ``policy`` along a noiseless episode of ``env``, at ``times``.

    Args:
        policy: a Policy or callable obs -> action. env: environment (open-loop
            :class:`TrapEnv`, or any env whose mean path is what is wanted). times: array of
            times in ``[0, tau]`` (time units).

    Returns:
        NumPy array ``times.shape + (action_size,)``, squeezed for ``action_size == 1``.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> policy_protocol(lambda o: jnp.array([2.0]), TrapEnv("translation"), [0.0, 0.5, 1.0]).tolist()
        [2.0, 2.0, 5.0]
    """
    p = env.default_params if params is None else params
    if isinstance(env, TrapEnv):
        if env.feedback:
            raise ValueError("protocol(): the env has feedback=True, so the action depends on x; an open-loop "
                             "protocol exists only for feedback=False")
        env = TrapEnv(env.problem, exact_moments=True)
    t = np.asarray(times, dtype=float)
    out = jax.jit(lambda k: env.rollout(k, policy, p))(jax.random.key(0))
    acts = np.asarray(out["action"])
    n = acts.shape[0]
    tau = float(p.tau)
    idx = np.clip(np.floor(t / tau * n).astype(int), 0, n - 1)
    res = acts[idx]
    if isinstance(env, TrapEnv):
        res = np.where((t >= tau)[..., None], float(p.lam_f), res)
    return res[..., 0] if res.shape[-1] == 1 else res


def train_ppo(env: Env, *, total_steps: int, n_envs: int = 64, seed: int = 0, config: PPOConfig | None = None,
              params: Any = None, n_seeds: int = 1, init_policy: Policy | None = None,
              callback: Callable | None = None, monitor: Callable | None = None) -> PPOResult:
    """Train a Gaussian policy on ``env`` with PPO (one jitted run, vmapped over seeds).

    Args:
        env: a nephlab.learn environment. total_steps: environment steps per seed (rounded down
            to whole updates of ``n_envs * n_steps``). n_envs: parallel environments (overrides
            ``config.n_envs``). seed: int seed. config: :class:`PPOConfig` (default ``PPOConfig()``,
            or :meth:`PPOConfig.fine_tuning` when ``init_policy`` is given).
        params: environment parameters (default ``env.default_params``). n_seeds: independent
            seeds trained in one vmapped call. init_policy: fine-tune from this policy (same
            network architecture and observation/action sizes as ``env``).
        callback: ``callback(update, mean_return)`` after each update (see :func:`make_train`).
        monitor: ``monitor(policy) -> scalar`` after each update, in the jitted loop (see
            :func:`make_train`); stored in ``PPOResult.monitor``, read by ``PPOResult.steps_to``.

    Returns:
        :class:`PPOResult`.

    Example:
        >>> from nephlab.learn import TrapEnv
        >>> res = train_ppo(TrapEnv("translation"), total_steps=200_000, n_envs=128, seed=0)  # doctest: +SKIP
        >>> res.evaluate(10_000, seed=1)  # doctest: +SKIP
    """
    _check_env(env)
    if config is None:
        config = PPOConfig() if init_policy is None else PPOConfig.fine_tuning()
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig or None, got {type(config).__name__}")
    config = dataclasses.replace(config, n_envs=integer(n_envs, "n_envs"))
    seed = int_seed(seed)
    n_seeds = integer(n_seeds, "n_seeds")
    total_steps = integer(total_steps, "total_steps")
    p = env.default_params if params is None else params
    T = config.n_steps or env.n_steps(p)
    n_updates = total_steps // (config.n_envs * T)
    if n_updates < 1:
        raise ValueError(f"total_steps={total_steps} is less than one update of n_envs * n_steps = "
                         f"{config.n_envs * T} environment steps")
    if init_policy is not None and (init_policy.observation_size != env.observation_size
                                    or dict(init_policy.arch)["action_size"] != env.action_size):
        raise ValueError(f"init_policy has arch {dict(init_policy.arch)}, which does not fit env {env!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    if monitor is not None and not callable(monitor):
        raise TypeError(f"monitor must be callable or None, got {type(monitor).__name__}")
    train = make_train(env, config, p, n_updates=n_updates, init_policy=init_policy, callback=callback,
                       monitor=monitor)
    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    net_params, returns, *mon = jax.jit(jax.vmap(train))(keys)
    returns = np.asarray(jax.block_until_ready(returns))
    mon = np.asarray(mon[0]) if mon else None
    dt = time.perf_counter() - t0
    template = init_policy if init_policy is not None else make_policy(
        env, seed=0, hidden=config.hidden, activation=config.activation, init_log_std=config.init_log_std,
        env_params=p)
    pols = tuple(template.replace(params=jax.tree_util.tree_map(lambda x, i=i: x[i], net_params))
                 for i in range(n_seeds))
    last = returns[:, -max(1, n_updates // 10):]
    best = int(np.nanargmax(np.nanmean(last, axis=1))) if np.isfinite(last).any() else 0
    steps = (np.arange(1, n_updates + 1) * config.n_envs * T).astype(np.int64)
    return PPOResult(returns=returns, env_steps=steps, best_seed=best, train_time=dt, monitor=mon,
                     env_name=getattr(env, "name", type(env).__name__), config=json.dumps(config.to_dict()),
                     policy=pols[best], policies=pols, env=env, env_params=p)

