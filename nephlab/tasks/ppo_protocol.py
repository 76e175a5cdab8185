"""The ``ppo_protocol`` task: a finite-time protocol of a harmonic trap learned by PPO
(:func:`nephlab.learn.train_ppo` on :class:`nephlab.learn.TrapEnv`, sampled Langevin noise),
held to the exact Schmiedl–Seifert optimum.

Problems, as in the ``optimal_protocol`` task: ``trap_translation`` (``U = k (x − λ)²/2``, λ from
``lam_i`` to ``lam_f``) and ``stiffness`` (``U = λ x²/2``, λ from ``k_i`` to ``k_f``). The policy
chooses λ on ``n_decisions`` equal intervals of [0, tau] from the observation (t/tau, λ); the
reward is −(Sekimoto work)/kBT including the final jump to λ(tau).

Outputs: the learned protocol (the policy's mean action) and the exact optimum at the interval
midpoints; the training curve (mean episode return per update); the learned protocol's mean
work from ``n_eval`` sampled trajectories (with its standard error) and from the exact moment
equations (no sampling error); the exact optimum ``W*`` and the relative gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import dataset, scalar
from .optimal_protocol import SPEC as _OPT

__all__ = ["SPEC", "PPO_PROTOCOL", "env_and_params"]

SPEC = TaskSpec(
    "ppo_protocol",
    "Minimum-work protocol of a harmonic trap learned by PPO (jitted, flax + optax) on the noisy "
    "Langevin environment, compared with the exact Schmiedl–Seifert optimum.",
    (
        # the physics: the optimal_protocol task's own parameters (one name, default, bound, unit)
        *(_OPT.param(n) for n in ("problem", "tau", "lam_i", "lam_f", "k", "k_i", "k_f", "gamma", "kBT")),
        Param("n_decisions", "int", 8, "decisions: piecewise-constant intervals of [0, tau] (the env's n_steps)",
              minimum=1, maximum=10_000),
        Param("total_steps", "int", 1_000_000, "environment steps of training", minimum=1, maximum=10**10),
        Param("n_envs", "int", 64, "parallel environments", minimum=1, maximum=1_000_000),
        Param("n_eval", "int", 100_000, "trajectories of the final evaluation", minimum=2, maximum=10**8),
        Param("seed", "int", 0, "seed of training (the evaluation uses seed + 1)", minimum=0),
    ),
)


def env_and_params(p: Mapping[str, Any], *, exact_moments: bool = False):
    """The :class:`nephlab.learn.TrapEnv` and :class:`nephlab.learn.TrapParams` of task parameters.

    Example:
        >>> env, params = env_and_params(SPEC.validate({"problem": "stiffness", "k_f": 3.0}))
        >>> env.problem, float(params.lam_f), params.n_steps
        ('stiffness', 3.0, 8)
    """
    from ..learn import TrapEnv, TrapParams

    tr = p["problem"] == "trap_translation"
    lam_i, lam_f = (p["lam_i"], p["lam_f"]) if tr else (p["k_i"], p["k_f"])
    env = TrapEnv("translation" if tr else "stiffness", exact_moments=exact_moments, n_steps=p["n_decisions"])
    params = TrapParams(tau=p["tau"], lam_i=lam_i, lam_f=lam_f, k=p["k"] if tr else 1.0, gamma=p["gamma"],
                        kBT=p["kBT"], n_steps=p["n_decisions"])
    return env, params


def _exact(p: Mapping[str, Any]):
    from ..control import optimal_protocol

    kw: dict[str, Any] = {"tau": p["tau"], "gamma": p["gamma"], "kBT": p["kBT"]}
    if p["problem"] == "trap_translation":
        kw.update(lam_i=p["lam_i"], lam_f=p["lam_f"], k=p["k"])
    else:
        kw.update(k_i=p["k_i"], k_f=p["k_f"])
    return optimal_protocol(p["problem"], **kw)


def run(p: dict) -> dict[str, np.ndarray]:
    """Train and evaluate one validated point.

    Example:
        >>> out = run(SPEC.validate({"lam_f": 5.0, "n_decisions": 2, "total_steps": 2 * 16 * 3, "n_envs": 16,
        ...                          "n_eval": 100}))
        >>> out["lam"].shape, out["returns"].shape, round(float(out["work_optimal"]), 6)
        ((2,), (3,), 8.333333)
    """
    from ..learn import evaluate_policy, train_ppo

    env, params = env_and_params(p)
    res = train_ppo(env, total_steps=p["total_steps"], n_envs=p["n_envs"], seed=p["seed"], params=params)
    n = p["n_decisions"]
    mid = (np.arange(n) + 0.5) / n * p["tau"]
    mc = res.evaluate(n_traj=p["n_eval"], seed=p["seed"] + 1)
    exact_env, exact_params = env_and_params(p, exact_moments=True)
    noiseless = evaluate_policy(res.policy, exact_env, n_traj=2, seed=0, params=exact_params)
    ss = _exact(p)
    w_star = float(ss.work)
    return {
        "time": mid,
        "lam": np.asarray(res.protocol(mid), dtype=float),
        "lam_exact": np.asarray(ss.lam(mid), dtype=float),
        "update": np.arange(1, res.returns.shape[1] + 1),
        "returns": np.asarray(res.returns[res.best_seed], dtype=float),
        "env_steps": np.asarray(res.env_steps, dtype=np.int64),
        "work_mean": scalar(mc.mean), "work_se": scalar(mc.se),
        "work_exact_moments": scalar(noiseless.mean),
        "work_optimal": scalar(w_star),
        "relative_gap": scalar(noiseless.mean / w_star - 1.0),
        "train_time": scalar(res.train_time),
    }


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset: ``lam``, ``lam_exact`` over time; ``returns`` over update; work scalars (energy)."""
    lam_units = "length" if p["problem"] == "trap_translation" else "energy/length²"
    return dataset(
        {
            "lam": (("time",), out["lam"], lam_units, "learned protocol λ(t) (mean action), interval midpoints"),
            "lam_exact": (("time",), out["lam_exact"], lam_units, "Schmiedl–Seifert optimum at the same times"),
            "returns": (("update",), out["returns"], "1", "mean episode return −W/kBT per PPO update"),
            "env_steps": (("update",), out["env_steps"], "1", "environment steps after each update"),
            "work_mean": ((), out["work_mean"], "energy", "mean work of the learned protocol (sampled)"),
            "work_se": ((), out["work_se"], "energy", "standard error of work_mean"),
            "work_exact_moments": ((), out["work_exact_moments"], "energy",
                                   "mean work of the learned protocol (exact moment equations)"),
            "work_optimal": ((), out["work_optimal"], "energy", "exact optimal mean work W* (Schmiedl–Seifert)"),
            "relative_gap": ((), out["relative_gap"], "1", "work_exact_moments / W* − 1"),
            "train_time": ((), out["train_time"], "s", "training wall time (compilation included)"),
        },
        {"time": (out["time"], "time", "time"), "update": (out["update"], "1", "PPO update")},
    )


def estimate(p: dict) -> dict:
    """About 3e5 environment steps per second on 2 CPU cores (network and PPO updates included).

    Example:
        >>> estimate(SPEC.validate({}))["device"]
        'cpu'
    """
    seconds = 15.0 + p["total_steps"] / 3e5 + p["n_eval"] * p["n_decisions"] / 5e6
    mem = 8 * p["n_envs"] * p["n_decisions"] * 64 + 8 * 10_000 * p["n_decisions"] * 4 + 100_000_000
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


PPO_PROTOCOL = register(Task(SPEC, run, to_dataset, estimate=estimate))
