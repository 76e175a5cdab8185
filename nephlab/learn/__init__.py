"""nephlab.learn: learned control on pure-functional JAX environments (flax + optax).

- :mod:`~nephlab.learn.envs`: gymnax-style environments (``reset``/``step``, jit/vmap-able,
  float64): :class:`TrapEnv` (Schmiedl–Seifert work minimisation), :class:`LinearQuadraticEnv`
  (compare with :func:`nephlab.control.lqr`), :class:`QubitEnv` (state transfer);
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

# from .hjb import HJBResult, solve_hjb  # (PINN for the HJB equation; written in parallel)

__all__ = [
    "Env", "LQParams", "LinearQuadraticEnv", "QubitEnv", "QubitParams", "TrapEnv", "TrapParams", "TrapState",
    "make_env", "ActorCritic", "Policy", "make_policy", "EvalResult", "PPOConfig", "PPOResult",
    "evaluate_policy", "make_train", "policy_protocol", "train_ppo",
    "load_policy", "policy_header", "pretrained", "pretrained_names", "pretrained_path", "save_policy",
]
