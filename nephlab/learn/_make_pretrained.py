"""Regenerate the policies shipped in ``nephlab/learn/pretrained/`` (``python -m nephlab.learn._make_pretrained``).

Each is trained with a fixed seed on the *noisy* environment, and its exact mean work (from the
``exact_moments`` environment) and the Schmiedl–Seifert optimum are recorded in the header
(``metadata["performance"]``); ``tests/test_learn_persist.py`` checks that they are still met.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..control import optimal_protocol
from .envs import TrapEnv
from .persist import _PRETRAINED, save_policy
from .ppo import PPOConfig, evaluate_policy, train_ppo

RECIPES = {
    "trap-translation": dict(problem="translation", total_steps=1_000_000, n_envs=64, config={}),
    "trap-stiffness": dict(problem="stiffness", total_steps=3_000_000, n_envs=256,
                           config={"ent_coef": 0.02, "init_log_std": -2.5}),
}


def make(name: str, out: Path = _PRETRAINED) -> Path:
    """Train and save the pretrained policy ``name`` (see :data:`RECIPES`)."""
    r = RECIPES[name]
    env = TrapEnv(r["problem"], n_steps=8)
    p = env.default_params
    res = train_ppo(env, total_steps=r["total_steps"], n_envs=r["n_envs"], seed=0, config=PPOConfig(**r["config"]))
    exact = evaluate_policy(res.policy, TrapEnv(r["problem"], exact_moments=True, n_steps=8), n_traj=2, seed=0)
    if r["problem"] == "translation":
        w_star = optimal_protocol("trap_translation", tau=p.tau, lam_i=p.lam_i, lam_f=p.lam_f, k=p.k, gamma=p.gamma,
                                  kBT=p.kBT).work
    else:
        w_star = optimal_protocol("stiffness", tau=p.tau, k_i=p.lam_i, k_f=p.lam_f, gamma=p.gamma, kBT=p.kBT).work
    perf = {"quantity": "work", "exact_mean_work": exact.mean, "w_star": w_star,
            "relative_excess": exact.mean / w_star - 1.0, "train_time_s": res.train_time,
            "total_steps": r["total_steps"], "n_envs": r["n_envs"], "seed": 0, "config": res.config}
    return save_policy(res.policy, out / f"{name}.policy", env_params=p, metadata={"performance": perf},
                       overwrite=True)


if __name__ == "__main__":  # pragma: no cover
    for n in sys.argv[1:] or list(RECIPES):
        print(make(n))
