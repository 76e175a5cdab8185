"""Fine-tuning vs training from scratch on a new trap system (issue 12, transfer target).

Trap translation with 8 decisions (γ = k_BT = 1, λ: 0 → λ_f). The mean work relative to the
Schmiedl–Seifert optimum depends on the system only through κ = τ k/γ; the shipped policy
``pretrained("trap-translation")`` was trained at κ = 1. On a new system (default k = 2.5,
κ = 2.5; the best 8-piece protocol is then within 0.5 % of W*) this script trains PPO from scratch
and fine-tunes the pretrained policy, with the same budget, seeds and env count, and evaluates
the exact mean work of the deterministic (mean-action) protocol after every update
(``train_ppo(monitor=...)``, no extra env steps). It prints the env steps until the excess
first falls below 1 % (and until it stays below), per seed, and the ratio of the medians, for
the first five seeds (0-4, on which the fine-tuning recipe was chosen) and for the held-out
rest (5-9 with the default ``--seeds 10``).

Runs: from scratch (``PPOConfig()``); fine-tuning with the scratch config; the recipe
``PPOConfig.fine_tuning()`` (what ``train_ppo(init_policy=...)`` uses by default); and the recipe
without its restart of the exploration noise (``fine_tune_log_std=None``: the pretrained
policy's annealed std is kept).

    python benchmarks/learn_transfer.py [--k 2.5] [--budget 50000] [--seeds 10]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from nephlab.control import optimal_protocol
from nephlab.learn import PPOConfig, TrapEnv, pretrained, train_ppo


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=float, default=2.5)
    ap.add_argument("--lam-f", type=float, default=5.0)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--budget", type=int, default=50_000)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..seeds-1; the first 5 are the tuning set")
    a = ap.parse_args(argv)
    env = TrapEnv("translation", n_steps=8)
    p = env.default_params.replace(k=a.k, lam_f=a.lam_f, tau=a.tau)
    ex = TrapEnv("translation", n_steps=8, exact_moments=True)
    w_star = optimal_protocol("trap_translation", tau=a.tau, lam_f=a.lam_f, k=a.k).work
    key = jax.random.key(0)

    def excess(pol):
        return ex.rollout(key, pol, p)["work"].sum() / w_star - 1.0

    runs = {"scratch": (None, PPOConfig()),
            "fine-tune (same config)": (pretrained("trap-translation"), PPOConfig()),
            "fine-tune (PPOConfig.fine_tuning())": (pretrained("trap-translation"), PPOConfig.fine_tuning()),
            "fine-tune (recipe, pretrained std kept)": (pretrained("trap-translation"),
                                                        PPOConfig.fine_tuning(fine_tune_log_std=None))}
    first = {}
    print(f"new system k={a.k}, lam_f={a.lam_f}, tau={a.tau}: W* = {w_star:.5f}; budget {a.budget} env steps, "
          f"{a.seeds} seeds, 64 envs")
    for name, (init, cfg) in runs.items():
        t0 = time.perf_counter()
        r = train_ppo(env, total_steps=a.budget, n_envs=64, seed=0, n_seeds=a.seeds, params=p, init_policy=init,
                      config=cfg, monitor=excess)
        first[name] = r.steps_to(0.01, stay=False)
        print(f"{name}: {time.perf_counter() - t0:.1f} s (with compilation); excess at update 1 "
              f"{np.round(r.monitor[:, 0], 4)}, final {np.round(r.monitor[:, -1], 4)}; steps to < 1 %: "
              f"first {first[name].tolist()}, staying {r.steps_to(0.01).tolist()}", flush=True)
    groups = [("seeds 0-4 (tuning)", slice(0, 5))]
    if a.seeds > 5:
        groups.append((f"seeds 5-{a.seeds - 1} (held out)", slice(5, a.seeds)))
    for label, sl in groups:
        s = np.nanmedian(first["scratch"][sl])
        print(f"{label}: median steps to first reach 1 %, scratch {s:.0f}")
        for name in list(runs)[1:]:
            m = np.nanmedian(first[name][sl])
            print(f"  {name}: {m:.0f}, ratio to scratch {m / s:.3f}")


if __name__ == "__main__":
    main()
