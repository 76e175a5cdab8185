"""nephlab.learn: learned control on pure-functional JAX environments (flax + optax).

- :mod:`~nephlab.learn.envs`: gymnax-style environments (``reset``/``step``, jit/vmap-able,
  float64): :class:`TrapEnv` (Schmiedl–Seifert work minimisation), :class:`LinearQuadraticEnv`
  (compare with :func:`nephlab.control.lqr`), :class:`QubitEnv` (state transfer);
- :mod:`~nephlab.learn.ppo`: PureJaxRL-style PPO, one jitted ``train(key)`` vmapped over seeds
  (:func:`train_ppo`, :func:`evaluate_policy`);
- :mod:`~nephlab.learn.hjb`: a physics-informed network for the Hamilton–Jacobi–Bellman
  equation (:func:`solve_hjb`), checked against Riccati and Pontryagin characteristics.
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
from .ppo import EvalResult, PPOConfig, PPOResult, evaluate_policy, make_train, policy_protocol, train_ppo

from .hjb import CubicHJB, HJBConfig, HJBProblem, HJBResult, LinearQuadraticHJB, solve_hjb

__all__ = [
    "Env", "LQParams", "LinearQuadraticEnv", "QubitEnv", "QubitParams", "TrapEnv", "TrapParams", "TrapState",
    "make_env", "ActorCritic", "Policy", "make_policy", "EvalResult", "PPOConfig", "PPOResult",
    "evaluate_policy", "make_train", "policy_protocol", "train_ppo",
    "CubicHJB", "HJBConfig", "HJBProblem", "HJBResult", "LinearQuadraticHJB", "solve_hjb",
]
