"""Interleaved A/B of the PPO training loop: this checkout's ``make_train`` against another git
revision's, in one process, on one CPU, by CPU time per update.

    python benchmarks/learn_ppo_ab.py                     # against main, 200 updates x 16 calls each
    python benchmarks/learn_ppo_ab.py --base 22226dd --updates 100 --repeats 20

The other revision's ``nephlab/learn/ppo.py`` is read with ``git show`` and imported beside this
checkout's (so it must work with this checkout's ``envs`` and ``networks``, as it does across the
training-loop changes of issue 12). The process is confined to one CPU before JAX starts (XLA's
thread pool then has one thread), both versions are compiled, and their warm calls alternate, so
that the load of a shared machine falls on both alike; each call trains ``--updates`` updates of
64 envs on ``TrapEnv("translation", n_steps=8)`` with the default ``PPOConfig``. Printed: the
median and the minimum CPU time per update, their ratios, and the load averages before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _load_base(rev: str, root: str):
    src = subprocess.run(["git", "show", f"{rev}:nephlab/learn/ppo.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), "ppo_base.py")
    with open(path, "w") as f:
        f.write(src)
    name = "nephlab.learn._ppo_base"  # in the package, so that its relative imports resolve
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="main", help="git revision to compare with (default main)")
    ap.add_argument("--updates", type=int, default=200, help="PPO updates per call (default 200)")
    ap.add_argument("--repeats", type=int, default=16, help="warm calls of each version (default 16)")
    a = ap.parse_args(argv)
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # before JAX's CPU client exists
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    import jax

    from nephlab.learn import PPOConfig, TrapEnv, ppo

    base = _load_base(a.base, root)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                         text=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                      text=True).stdout.strip():
        rev += " + uncommitted changes"
    env = TrapEnv("translation", n_steps=8)
    cfg = PPOConfig(n_envs=64)
    keys = jax.random.split(jax.random.key(0), 1)
    fns = {a.base: jax.jit(jax.vmap(base.make_train(env, cfg, n_updates=a.updates))),
           f"this checkout ({rev})": jax.jit(jax.vmap(ppo.make_train(env, cfg, n_updates=a.updates)))}
    for f in fns.values():
        jax.block_until_ready(f(keys))
    cpu = {k: [] for k in fns}
    load0 = os.getloadavg()
    for _ in range(a.repeats):
        for k, f in fns.items():
            t = time.process_time()
            jax.block_until_ready(f(keys))
            cpu[k].append(1e3 * (time.process_time() - t) / a.updates)
    load1 = os.getloadavg()
    print(f"CPU time per update (ms), one CPU, {a.updates} updates x {a.repeats} interleaved calls; "
          f"load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    (kb, vb), (kn, vn) = cpu.items()
    for k, v in cpu.items():
        print(f"  {k:44s} median {statistics.median(v):.3f}  min {min(v):.3f}")
    print(f"  ratio {kb} / this checkout: median {statistics.median(vb) / statistics.median(vn):.3f}, "
          f"min {min(vb) / min(vn):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
