"""nephlab.learn: learned control on pure-functional JAX environments (flax + optax).

Learned policies are held to the exact optima nephlab computes (Schmiedl–Seifert, Riccati).

- :mod:`~nephlab.learn.envs`: gymnax-style environments (``reset(key, params)``,
  ``step(key, state, action, params)``; jit/vmap-able, float64): :class:`TrapEnv` (mean-work
  minimisation in a dragged or squeezed harmonic trap; return ``-W/kBT``),
  :class:`LinearQuadraticEnv` (compare with :func:`nephlab.control.lqr`), :class:`QubitEnv`
  (state transfer of a driven two-level system);
- :mod:`~nephlab.learn.ppo`: PureJaxRL-style PPO, one jitted ``train(key)`` vmapped over seeds
  (:func:`make_train`, :func:`train_ppo` -> :class:`PPOResult`), and :func:`evaluate_policy`
  for any policy (a :class:`Policy` or a plain callable ``obs -> action``);
- :mod:`~nephlab.learn.networks`: the flax actor-critic and the :class:`Policy` object;
- :mod:`~nephlab.learn.persist`: :func:`save_policy`/:func:`load_policy` and the shipped
  :func:`pretrained` policies (``"trap-translation"``, ``"trap-stiffness"``);
- :mod:`~nephlab.learn.transfer`: :class:`ParametricEnv`, policies conditioned on the system's
  parameters (train over a range, evaluate on unseen systems, fine-tune);
- :mod:`~nephlab.learn.hjb`: a physics-informed network for the Hamilton–Jacobi–Bellman
  equation (:func:`solve_hjb`), checked against Riccati and Pontryagin characteristics.

Example:
    >>> from nephlab.learn import TrapEnv, evaluate_policy, pretrained
    >>> pol = pretrained("trap-translation")
    >>> r = evaluate_policy(pol, TrapEnv("translation", exact_moments=True, n_steps=8), n_traj=2, seed=0)
    >>> abs(r.mean / (25 / 3) - 1) < 0.01
    True
"""

from .envs import (
    Env,
    LinearQuadraticEnv,
    LQParams,
    QubitEnv,
    QubitParams,
    TrapEnv,
    TrapParams,
    TrapState,
    make_env,
)
from .networks import ActorCritic, Policy, make_policy
from .persist import load_policy, policy_header, pretrained, pretrained_names, pretrained_path, save_policy
from .ppo import EvalResult, PPOConfig, PPOResult, evaluate_policy, make_train, policy_protocol, train_ppo
from .transfer import ParametricEnv

from .hjb import CubicHJB, HJBConfig, HJBProblem, HJBResult, LinearQuadraticHJB, solve_hjb

__all__ = [
    "ActorCritic", "CubicHJB", "Env", "HJBConfig", "HJBProblem", "HJBResult", "LinearQuadraticHJB", "EvalResult", "LQParams", "LinearQuadraticEnv", "PPOConfig", "PPOResult", "ParametricEnv",
    "Policy", "QubitEnv", "QubitParams", "TrapEnv", "TrapParams", "TrapState",
    "evaluate_policy", "load_policy", "make_env", "make_policy", "make_train", "policy_header", "policy_protocol",
    "pretrained", "pretrained_names", "pretrained_path", "save_policy", "solve_hjb", "train_ppo",
]
