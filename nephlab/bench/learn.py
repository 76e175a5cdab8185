"""Learned-control benchmark: nephlab's jitted PPO vs Stable-Baselines3 PPO vs a NumPy loop.

Problem (issue 12): overdamped particle in a dragged harmonic trap, ``tau = 1``, ``lam: 0 -> 5``,
``k = gamma = kBT = 1``, ``n_steps = 8`` piecewise-constant decisions per episode, exact
Ornstein–Uhlenbeck transition between decisions, reward ``-W/kBT`` (Sekimoto work, including the
final jump to ``lam_f``); the Schmiedl–Seifert optimum is ``W* = 25/3``. The same physics in
three codes:

- nephlab: :class:`nephlab.learn.TrapEnv` (``vmap`` over envs, ``lax.scan`` over time), raw
  stepping and the full PPO training loop (:func:`nephlab.learn.make_train`, the path of
  :func:`~nephlab.learn.train_ppo`; networks in float32, the default ``PPOConfig.dtype``;
  ``--ppo-float64`` adds a row with ``dtype="float64"``; ``--ppo-one-cpu`` one with the PPO
  process confined to one CPU by ``os.sched_setaffinity``, so that XLA runs it on one thread,
  as SB3 runs on one torch thread);
- :class:`NumpyTrapVec`: a NumPy-vectorised port stepped in a Python loop;
- :class:`GymTrapEnv`: a ``gymnasium.Env`` port (scalar Python maths), trained with
  Stable-Baselines3 PPO (single env and ``DummyVecEnv`` with n envs; ``torch.set_num_threads(--torch-threads)``, default
  1, which was 15x faster than 2 threads on the loaded 2-core machine), with hyper-parameters
  matched to :class:`~nephlab.learn.PPOConfig` (lr 3e-3 annealed, 4 epochs, 4 minibatches,
  gamma 1, GAE 0.95, clip 0.2, ent 0.05, vf 0.5, grad-norm 0.5, tanh 64x64 separate actor and
  critic, log-std init -2, actions normalised to ``[-1, 1]``).

Measured, side by side in one run: (1) environment steps per second (median of ``--repeats``
warm calls; the first call with compilation separately; PPO: total env steps / train time, first
call in a fresh process, then ``--repeats`` warm calls of the same jitted config; SB3: ``--repeats``
runs of ``model.learn``, each with a fresh model of the same seed; the PPO processes' warm calls and
SB3's runs alternate, round by round, so that a change in a shared machine's load falls on both;
the ratios are ratios of medians, and a second table gives the spread of the round-by-round
ratios); (2) time to reach 1 %
of W* (nephlab: the ``--ppo-steps`` run, default 10^6 env steps with 64 envs, the configuration
of ``tests/test_learn_ppo.py``, and the smallest budget of ``--ppo-ladder`` that reaches it, each
budget a fresh jitted run with its own learning-rate annealing (PPO runs as one ``lax.scan``, so it
cannot be checked mid-run); SB3: wall time of ``model.learn`` until the deterministic policy
is within 1 %, checked after every rollout, capped at ``--sb3-time-cap`` seconds); both policies
are evaluated the same way: the deterministic (mean-action) protocol, its exact mean work
(Gaussian moments) and a Monte-Carlo mean over ``--eval-traj`` noisy trajectories of the NumPy
port; (3) the machine (CPU, cores, load average at start and end) and versions. For the PPO
and SB3 rows the CPU time of the process during the timed call is shown too (env steps per
CPU-second and its ratio to SB3's): on a shared machine the wall time measures the share of the
cores a code got, the CPU time the work it needed.

Stable-Baselines3 and PyTorch are *not* nephlab dependencies: install them by hand
(``pip install stable-baselines3 gymnasium torch``). Without them the SB3 rows print
"n/a (pip install stable-baselines3 torch gymnasium)" and the rest still runs.

Run ``python benchmarks/learn.py --help`` or ``nephlab bench learn --help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .langevin import _time  # first call, then the median of `repeats` calls

TAU, LAM_I, LAM_F, K, GAMMA, KBT, N_STEPS = 1.0, 0.0, 5.0, 1.0, 1.0, 1.0, 8
W_STAR = GAMMA * (LAM_F - LAM_I) ** 2 / (TAU + 2 * GAMMA / K)  # 25/3
NA_SB3 = "n/a (pip install stable-baselines3 torch gymnasium)"
_OFF, _SC = 0.5 * (LAM_I + LAM_F), 0.5 * abs(LAM_F - LAM_I)  # lam = _OFF + _SC z (TrapEnv's transform)


# --------------------------------------------------------------------------------------------
# NumPy and gymnasium ports of TrapEnv("translation") (same exact OU update and work)
# --------------------------------------------------------------------------------------------
class NumpyTrapVec:
    """NumPy-vectorised port of ``TrapEnv("translation")`` with automatic reset.

    ``n_envs`` traps; :meth:`step` takes the trap centres ``lam`` ``(n_envs,)`` (length) and
    returns ``(obs (n_envs, 2), reward (n_envs,), done (n_envs,))`` with the observation
    ``(t/tau, lam)`` and reward ``-W/kBT`` of the step (final jump included on the last one).

    Example:
        >>> env = NumpyTrapVec(4, seed=0)
        >>> obs = env.reset()
        >>> obs.shape
        (4, 2)
        >>> _, r, d = env.step(np.full(4, 2.5))
        >>> r.shape, bool(d.any())
        ((4,), False)
    """

    def __init__(self, n_envs: int, seed: int = 0, n_steps: int = N_STEPS, tau: float = TAU):
        self.n, self.n_steps = int(n_envs), int(n_steps)
        self.dt = tau / n_steps
        self.e = math.exp(-K / GAMMA * self.dt)
        self.s = math.sqrt(KBT / K * (1 - self.e**2))
        self.rng = np.random.default_rng(seed)

    def _x0(self, n: int) -> np.ndarray:
        return LAM_I + math.sqrt(KBT / K) * self.rng.standard_normal(n)

    def reset(self) -> np.ndarray:
        """Equilibrium at ``lam_i``; returns the observations."""
        self.x = self._x0(self.n)
        self.lam = np.full(self.n, LAM_I)
        self.j = np.zeros(self.n, dtype=np.int64)
        return self._obs()

    def _obs(self) -> np.ndarray:
        return np.stack([self.j / self.n_steps, self.lam], axis=1)

    def step(self, lam: np.ndarray):
        """One decision for every env (finished episodes restart)."""
        x = self.x
        w = 0.5 * K * ((x - lam) ** 2 - (x - self.lam) ** 2)
        x = lam + (x - lam) * self.e + self.s * self.rng.standard_normal(self.n)
        self.j = self.j + 1
        done = self.j >= self.n_steps
        w = w + np.where(done, 0.5 * K * ((x - LAM_F) ** 2 - (x - lam) ** 2), 0.0)
        self.x = np.where(done, self._x0(self.n), x)
        self.lam = np.where(done, LAM_I, lam)
        self.j = np.where(done, 0, self.j)
        return self._obs(), -w / KBT, done


def numpy_protocol_work(lams: Any, n_traj: int, seed: int = 0) -> tuple[float, float]:
    """Monte-Carlo mean work ``W`` (energy) of a protocol ``lams`` ``(n_steps,)`` with the NumPy
    port and ``n_traj`` trajectories; returns ``(mean, standard error)``.

    Example:
        >>> m, se = numpy_protocol_work(np.full(8, 2.5), 20_000, seed=1)
        >>> bool(abs(m - exact_protocol_work(np.full(8, 2.5))) < 4 * se)
        True
    """
    lams = np.asarray(lams, dtype=float)
    env = NumpyTrapVec(n_traj, seed=seed, n_steps=len(lams))
    env.reset()
    ret = np.zeros(n_traj)
    for lam in lams:
        _, r, _ = env.step(np.full(n_traj, lam))
        ret += r
    w = -KBT * ret
    return float(w.mean()), float(w.std(ddof=1) / math.sqrt(n_traj))


def exact_protocol_work(lams: Any) -> float:
    """Exact mean work (energy) of the piecewise-constant translation protocol ``lams``
    (Gaussian moments; the variance cancels for a translated trap).

    Example:
        >>> round(exact_protocol_work(np.full(8, 0.0)), 12)   # hold at 0, jump at the end
        12.5
    """
    lams = np.asarray(lams, dtype=float)
    e = math.exp(-K / GAMMA * TAU / len(lams))
    m, old, w = LAM_I, LAM_I, 0.0
    for lam in lams:
        w += 0.5 * K * ((m - lam) ** 2 - (m - old) ** 2)
        m, old = lam + (m - lam) * e, lam
    return float(w + 0.5 * K * ((m - LAM_F) ** 2 - (m - old) ** 2))


def _gym_env_class():
    import gymnasium as gym

    class GymTrapEnv(gym.Env):
        """gymnasium port of ``TrapEnv("translation")``: action ``z`` in ``[-1, 1]`` (the trap
        centre ``lam = 2.5 + 2.5 z``), observation ``(t/tau, (lam - 2.5)/2.5)`` (float32),
        reward ``-W/kBT`` of the step, episode of ``n_steps`` decisions (terminated)."""

        metadata: dict = {"render_modes": []}

        def __init__(self, n_steps: int = N_STEPS):
            self.n_steps = n_steps
            self.observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
            self.e = math.exp(-K / GAMMA * TAU / n_steps)
            self.s = math.sqrt(KBT / K * (1 - self.e**2))

        def _obs(self):
            return np.array([self.j / self.n_steps, (self.lam - _OFF) / _SC], dtype=np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.x = LAM_I + math.sqrt(KBT / K) * float(self.np_random.standard_normal())
            self.lam, self.j = LAM_I, 0
            return self._obs(), {}

        def step(self, action):
            lam = _OFF + _SC * float(action[0])
            x = self.x
            w = 0.5 * K * ((x - lam) ** 2 - (x - self.lam) ** 2)
            x = lam + (x - lam) * self.e + self.s * float(self.np_random.standard_normal())
            self.j += 1
            done = self.j >= self.n_steps
            if done:
                w += 0.5 * K * ((x - LAM_F) ** 2 - (x - lam) ** 2)
            self.x, self.lam = x, lam
            return self._obs(), -w / KBT, done, False, {"work": w}

    return GymTrapEnv


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------
def _nephlab_raw(n_envs: int, horizon: int):
    import jax
    import jax.numpy as jnp

    from nephlab.learn import TrapEnv

    env = TrapEnv("translation", n_steps=N_STEPS, tau=TAU, lam_i=LAM_I, lam_f=LAM_F)
    p = env.default_params
    step_v = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_v = jax.vmap(env.reset, in_axes=(0, None))

    @jax.jit
    def run(key):
        k0, k1 = jax.random.split(key)
        obs, st = reset_v(jax.random.split(k0, n_envs), p)

        def body(c, k):
            obs, st, acc = c
            lam = LAM_F * (obs[:, :1] + 0.5 / N_STEPS)  # a fixed ramp, computed from obs
            obs, st, r, _, _ = step_v(jax.random.split(k, n_envs), st, lam, p)
            return (obs, st, acc + r), None

        (_, _, acc), _ = jax.lax.scan(body, (obs, st, jnp.zeros(n_envs)), jax.random.split(k1, horizon))
        return acc

    return lambda s: jax.block_until_ready(run(jax.random.key(s)))


def _numpy_raw(n_envs: int, horizon: int):
    def run(s):
        env = NumpyTrapVec(n_envs, seed=s)
        obs = env.reset()
        acc = np.zeros(n_envs)
        for _ in range(horizon):
            obs, r, _ = env.step(LAM_F * (obs[:, 0] + 0.5 / N_STEPS))
            acc += r
        return acc

    return run


def _gym_raw(n_steps_total: int):
    cls = _gym_env_class()

    def run(s):
        env = cls()
        obs, _ = env.reset(seed=s)
        for _ in range(n_steps_total):
            z = (LAM_F * (obs[0] + 0.5 / N_STEPS) - _OFF) / _SC
            obs, r, term, trunc, _ = env.step(np.array([z], dtype=np.float32))
            if term:
                obs, _ = env.reset()

    return run


# --------------------------------------------------------------------------------------------
# nephlab PPO, in a fresh process
# --------------------------------------------------------------------------------------------
def _ppo_child(spec_json: str) -> None:
    """Child process: compile and train nephlab PPO once (the first call), print a ``PPO-FIRST``
    JSON line, then train again warm for every ``go`` line read from stdin (a ``PPO-WARM`` line
    with the wall and CPU time of each) and, on ``end``, print a ``PPO-RESULT`` line with the
    learned mean protocol. The parent interleaves these warm calls with its SB3 runs."""
    t_start = time.perf_counter()
    spec = json.loads(spec_json)
    if spec.get("one_cpu"):  # before JAX's CPU client exists: its thread pool has one thread per CPU
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    import jax

    from nephlab.learn import PPOConfig, TrapEnv, make_policy, make_train, policy_protocol

    t_import = time.perf_counter() - t_start
    env = TrapEnv("translation", n_steps=N_STEPS, tau=TAU, lam_i=LAM_I, lam_f=LAM_F)
    cfg = PPOConfig(n_envs=spec["n_envs"], dtype=spec.get("dtype", "float32"))
    n_updates = spec["total_steps"] // (cfg.n_envs * N_STEPS)
    train = jax.jit(jax.vmap(make_train(env, cfg, n_updates=n_updates)))  # as in train_ppo
    keys = jax.random.split(jax.random.key(spec["seed"]), 1)

    def call() -> tuple[float, float, Any]:
        t, c = time.perf_counter(), time.process_time()
        params, ret = train(keys)
        jax.block_until_ready(ret)
        return time.perf_counter() - t, time.process_time() - c, params

    first, _, params = call()
    print("PPO-FIRST " + json.dumps({"first": first, "import": t_import, "env_steps": n_updates * cfg.n_envs * N_STEPS,
                                     "process_first": time.perf_counter() - t_start}), flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        wall, cpu, params = call()
        print("PPO-WARM " + json.dumps({"wall": wall, "cpu": cpu}), flush=True)
    pol = make_policy(env, seed=0, hidden=cfg.hidden, activation=cfg.activation, init_log_std=cfg.init_log_std)
    pol = pol.replace(params=jax.tree_util.tree_map(lambda x: x[0], params))
    lams = policy_protocol(pol, env, (np.arange(N_STEPS) + 0.5) * TAU / N_STEPS)
    print("PPO-RESULT " + json.dumps({"lams": np.asarray(lams).tolist()}), flush=True)


class _PPOChild:
    """A nephlab PPO run in a fresh process (:func:`_ppo_child`), driven call by call: the
    constructor waits for its first call (compilation included), :meth:`warm` times one warm
    call, :meth:`finish` returns ``first, warm`` (median), ``warm_cpu`` (median), the lists
    ``warm_all``/``cpu_all``, ``env_steps``, ``import``, ``process_first`` and ``lams``."""

    def __init__(self, n_envs: int, total_steps: int, seed: int, dtype: str = "float32", one_cpu: bool = False):
        spec = json.dumps({"n_envs": n_envs, "total_steps": total_steps, "seed": seed, "dtype": dtype,
                           "one_cpu": one_cpu})
        self._err = tempfile.TemporaryFile(mode="w+")
        self._p = subprocess.Popen([sys.executable, "-c", f"from nephlab.bench.learn import _ppo_child; "
                                    f"_ppo_child({spec!r})"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=self._err, text=True, bufsize=1)
        self.res: dict = {**self._read("PPO-FIRST "), "warm_all": [], "cpu_all": []}

    def _read(self, tag: str) -> dict:
        for line in self._p.stdout:
            if line.startswith(tag):
                return json.loads(line[len(tag):])
        self._p.wait()
        self._err.seek(0)
        raise RuntimeError(f"nephlab PPO child process failed:\n{self._err.read()[-4000:]}")

    def warm(self) -> None:
        self._p.stdin.write("go\n")
        d = self._read("PPO-WARM ")
        self.res["warm_all"].append(d["wall"])
        self.res["cpu_all"].append(d["cpu"])

    def finish(self) -> dict:
        self._p.stdin.write("end\n")
        self._p.stdin.close()
        self.res.update(self._read("PPO-RESULT "))
        self._p.wait()
        self._err.close()
        w, c = self.res["warm_all"], self.res["cpu_all"]
        self.res["warm"] = statistics.median(w) if w else float("nan")
        self.res["warm_cpu"] = statistics.median(c) if c else float("nan")
        return self.res


def _ppo_ladder_child(spec_json: str) -> None:
    """Child process: nephlab PPO with increasing budgets (each jitted afresh, the path of
    ``train_ppo``); stop at the first whose mean protocol is within 1 % of W*, time it again warm;
    print a JSON line with one entry per budget."""
    t_start = time.perf_counter()
    spec = json.loads(spec_json)
    import jax

    from nephlab.learn import PPOConfig, TrapEnv, make_policy, make_train, policy_protocol

    env = TrapEnv("translation", n_steps=N_STEPS, tau=TAU, lam_i=LAM_I, lam_f=LAM_F)
    cfg = PPOConfig(n_envs=spec["n_envs"])
    keys = jax.random.split(jax.random.key(spec["seed"]), 1)
    pol0 = make_policy(env, seed=0, hidden=cfg.hidden, activation=cfg.activation, init_log_std=cfg.init_log_std)
    out = []
    for budget in spec["ladder"]:
        n_updates = max(1, budget // (cfg.n_envs * N_STEPS))
        train = jax.jit(jax.vmap(make_train(env, cfg, n_updates=n_updates)))
        t = time.perf_counter()
        params, ret = train(keys)
        jax.block_until_ready(ret)
        first = time.perf_counter() - t
        pol = pol0.replace(params=jax.tree_util.tree_map(lambda x: x[0], params))
        lams = np.asarray(policy_protocol(pol, env, (np.arange(N_STEPS) + 0.5) * TAU / N_STEPS)).tolist()
        e = {"budget": n_updates * cfg.n_envs * N_STEPS, "first": first, "lams": lams,
             "work": exact_protocol_work(lams), "cumulative": time.perf_counter() - t_start}
        out.append(e)
        if e["work"] < 1.01 * W_STAR:
            t = time.perf_counter()
            jax.block_until_ready(train(keys)[1])
            e["warm"] = time.perf_counter() - t
            break
    print("PPO-RESULT " + json.dumps(out))


def _run_ppo_ladder(n_envs: int, seed: int, ladder: list) -> list:
    spec = json.dumps({"n_envs": n_envs, "seed": seed, "ladder": ladder})
    code = f"from nephlab.bench.learn import _ppo_ladder_child; _ppo_ladder_child({spec!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("PPO-RESULT "):
            return json.loads(line[len("PPO-RESULT "):])
    raise RuntimeError(f"nephlab PPO child process failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


# --------------------------------------------------------------------------------------------
# Stable-Baselines3
# --------------------------------------------------------------------------------------------
def _sb3_available() -> bool:
    try:
        import gymnasium  # noqa: F401
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def _sb3_model(n_envs: int, seed: int, total_steps: int):
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    cls = _gym_env_class()
    venv = make_vec_env(cls, n_envs=n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    n_steps = max(N_STEPS, 512 // n_envs)  # rollout batch >= 512 as nephlab's (64 envs x 8)
    lr0 = 3e-3
    return PPO("MlpPolicy", venv, learning_rate=lambda prog: lr0 * prog, n_steps=n_steps,
               batch_size=n_steps * n_envs // 4, n_epochs=4, gamma=1.0, gae_lambda=0.95, clip_range=0.2,
               ent_coef=0.05, vf_coef=0.5, max_grad_norm=0.5, seed=seed, device="cpu", verbose=0,
               policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh,
                                  log_std_init=-2.0))


def sb3_protocol(model) -> np.ndarray:
    """The deterministic (mean-action) protocol ``lam_j`` of an SB3 policy on the open-loop env."""
    lams, lam = [], LAM_I
    for j in range(N_STEPS):
        obs = np.array([j / N_STEPS, (lam - _OFF) / _SC], dtype=np.float32)
        z, _ = model.predict(obs, deterministic=True)
        lam = _OFF + _SC * float(np.clip(z, -1, 1)[0])
        lams.append(lam)
    return np.array(lams)


def _sb3_throughput(n_envs: int, steps: int, seed: int) -> tuple[float, int, float]:
    """Wall time (s), env steps and CPU time of this process (s) of one ``model.learn``."""
    model = _sb3_model(n_envs, seed, steps)
    t, c = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    return time.perf_counter() - t, int(model.num_timesteps), time.process_time() - c


def _sb3_target(n_envs: int, budget: int, cap: float, seed: int) -> dict:
    from stable_baselines3.common.callbacks import BaseCallback

    model = _sb3_model(n_envs, seed, budget)
    st = {"best": float("inf"), "reached": None, "eval_time": 0.0, "steps": 0}

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            t = time.perf_counter()
            w = exact_protocol_work(sb3_protocol(self.model))
            if w < st["best"]:
                st["best"], st["best_lams"] = w, sb3_protocol(self.model)
            if st["reached"] is None and w < 1.01 * W_STAR:
                st["reached"] = (t - st["t0"] - st["eval_time"], self.model.num_timesteps)
            st["eval_time"] += time.perf_counter() - t
            st["steps"] = self.model.num_timesteps
            if st["reached"] is not None or t - st["t0"] > cap:
                self.model._nephlab_stop = True

        def _on_rollout_start(self) -> None:
            pass

    class Stop(Check):
        def _on_step(self) -> bool:
            return not getattr(self.model, "_nephlab_stop", False)

    st["t0"] = time.perf_counter()
    model.learn(total_timesteps=budget, callback=Stop())
    st["wall"] = time.perf_counter() - st["t0"] - st["eval_time"]
    return st


# --------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------
def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib import metadata

    vers = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "stable-baselines3", "gymnasium"):
        try:
            vers[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            vers[pkg] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "versions": vers}


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark and print a table; returns 0.

    Example:
        >>> main(["--n-envs", "4", "--horizon", "16", "--repeats", "1", "--ppo-steps", "0",
        ...       "--ppo-ladder", "--no-sb3", "--eval-traj", "100"])  # doctest: +ELLIPSIS
        learn benchmark...
        0
    """
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-envs", type=int, nargs="+", default=[64, 1024], help="parallel envs (default 64 1024)")
    ap.add_argument("--horizon", type=int, default=800, help="steps per env per raw-stepping call (default 800)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="warm repeats, median reported (default 3); the PPO loops' warm calls and SB3's "
                         "DummyVecEnv runs alternate, round by round")
    ap.add_argument("--ppo-steps", type=int, default=1_000_000,
                    help="env steps of each nephlab PPO run (default 10^6; 0: skip PPO)")
    ap.add_argument("--ppo-ladder", type=int, nargs="*", default=[25_000, 50_000, 100_000, 250_000, 500_000],
                    help="nephlab PPO budgets tried in order for the time to 1%% (each compiled afresh; "
                         "none: skip)")
    ap.add_argument("--gym-steps", type=int, default=20_000, help="steps of the single gymnasium env loop")
    ap.add_argument("--sb3-steps", type=int, default=50_000, help="env steps of each SB3 throughput run")
    ap.add_argument("--sb3-single-repeats", type=int, default=1,
                    help="runs of the single-env SB3 row (default 1: ~25-45 s each; not in any ratio)")
    ap.add_argument("--sb3-budget", type=int, default=1_000_000, help="SB3 env-step budget for the 1%% target")
    ap.add_argument("--sb3-time-cap", type=float, default=600.0, help="SB3 wall-time cap for the 1%% target (s)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch.set_num_threads for SB3 (default 1: faster than 2 on a loaded 2-core machine)")
    ap.add_argument("--ppo-one-cpu", action="store_true",
                    help="add a nephlab PPO row with its process confined to one CPU (os.sched_setaffinity)")
    ap.add_argument("--ppo-float64", action="store_true",
                    help="also time the PPO training loop with PPOConfig(dtype='float64') (default float32)")
    ap.add_argument("--no-sb3", action="store_true", help="skip Stable-Baselines3 even if installed")
    ap.add_argument("--no-target", action="store_true", help="skip the time-to-1%% runs")
    ap.add_argument("--eval-traj", type=int, default=100_000, help="Monte-Carlo trajectories per evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", action="store_true", help="print only the markdown tables")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    a = ap.parse_args(argv)
    if min(a.n_envs) < 1 or a.horizon < 1 or a.repeats < 1 or a.sb3_single_repeats < 1 or a.ppo_steps < 0:
        ap.error("--n-envs, --horizon, --repeats and --sb3-single-repeats must be >= 1 and --ppo-steps >= 0")

    load0, t_start = _load(), time.perf_counter()
    mach = _machine()
    sb3 = _sb3_available() and not a.no_sb3
    sb3_note = NA_SB3 if not _sb3_available() else ("skipped (--no-sb3)" if a.no_sb3 else "")
    if sb3:
        import torch

        torch.set_num_threads(a.torch_threads)
    rows: list[dict] = []  # throughput rows

    def add(code, n, steps, first, med, note="", cpu=float("nan"), walls=(), cpus=()):
        rows.append({"code": code, "n_envs": n, "env_steps": steps, "first_s": first, "median_s": med,
                     "min_s": min(walls, default=float("nan")), "max_s": max(walls, default=float("nan")),
                     "runs_s": list(walls), "runs_cpu_s": list(cpus),
                     "steps_per_s": steps / med if med == med and med > 0 else float("nan"), "cpu_s": cpu,
                     "steps_per_cpu_s": steps / cpu if cpu == cpu and cpu > 0 else float("nan"), "note": note})

    def add_runs(code, n, steps, first, walls, cpus, note):
        add(code, n, steps, first, statistics.median(walls), note, statistics.median(cpus), walls, cpus)

    sb3_note_runs = f"torch CPU, {a.torch_threads} thread(s)"
    ppo: dict[int, dict] = {}
    for n in a.n_envs:
        steps = n * a.horizon
        add("nephlab TrapEnv, jit(vmap+scan)", n, steps, *_time(_nephlab_raw(n, a.horizon), a.repeats))
        add("NumPy port, Python loop", n, steps, *_time(_numpy_raw(n, a.horizon), a.repeats))
        # the PPO variants in fresh processes, each compiled in turn (first call), then their warm calls and
        # SB3's runs interleaved, round by round, so that a change in the machine's load falls on all alike
        kinds = [("nephlab PPO training loop", {}, "fresh process, default CPUs")]
        if a.ppo_float64:
            kinds.append(("nephlab PPO training loop, PPOConfig(dtype='float64')", {"dtype": "float64"},
                          "fresh process, default CPUs"))
        if a.ppo_one_cpu:
            kinds.append(("nephlab PPO training loop, one CPU", {"one_cpu": True},
                          "fresh process confined to one CPU (sched_setaffinity)"))
        children = [(code, _PPOChild(n, a.ppo_steps, a.seed, **kw), note) for code, kw, note in kinds] \
            if a.ppo_steps else []
        sb3_runs: list[tuple] = []
        for _ in range(a.repeats):
            for _, ch, _ in children:
                ch.warm()
            if sb3:
                sb3_runs.append(_sb3_throughput(n, max(a.sb3_steps, 4 * n * N_STEPS), a.seed))
        for i, (code, ch, note) in enumerate(children):
            d = ch.finish()
            if i == 0:
                ppo[n] = d
            add_runs(code, n, d["env_steps"], d["first"], d["warm_all"], d["cpu_all"],
                     f"{note}; first call incl. compilation, then {a.repeats} warm call(s)")
        if sb3:
            add_runs("SB3 PPO learn, DummyVecEnv", n, sb3_runs[0][1], float("nan"), [r[0] for r in sb3_runs],
                     [r[2] for r in sb3_runs], f"{a.repeats} run(s) interleaved with nephlab's, {sb3_note_runs}")
        else:
            add("SB3 PPO learn, DummyVecEnv", n, 0, float("nan"), float("nan"), sb3_note)
    if importlib.util.find_spec("gymnasium") is not None:
        add("gymnasium port, Python loop", 1, a.gym_steps, *_time(_gym_raw(a.gym_steps), a.repeats))
    else:
        add("gymnasium port, Python loop", 1, 0, float("nan"), float("nan"), "n/a (pip install gymnasium)")
    if sb3:
        runs = [_sb3_throughput(1, a.sb3_steps, a.seed) for _ in range(a.sb3_single_repeats)]
        add_runs("SB3 PPO learn, single env", 1, runs[0][1], float("nan"), [r[0] for r in runs], [r[2] for r in runs],
                 f"{a.sb3_single_repeats} run(s), {sb3_note_runs}")
    else:
        add("SB3 PPO learn, single env", 1, 0, float("nan"), float("nan"), sb3_note)

    def sb3_row(n):
        r = [x for x in rows if x["code"].startswith("SB3") and x["n_envs"] == n]
        return r[0] if r else None

    for r in rows:
        ref = sb3_row(r["n_envs"])
        r["vs_sb3_same_n"] = r["steps_per_s"] / ref["steps_per_s"] if ref else float("nan")
        r["vs_sb3_cpu_same_n"] = r["steps_per_cpu_s"] / ref["steps_per_cpu_s"] if ref else float("nan")
        if ref and r["code"].startswith("nephlab PPO") and len(ref["runs_s"]) == len(r["runs_s"]) > 0:
            # round by round (each warm call against the SB3 run right after it): the spread of the ratio
            for k, col in (("wall", "runs_s"), ("cpu", "runs_cpu_s")):
                rr = [(r["env_steps"] / x) / (ref["env_steps"] / y) for x, y in zip(r[col], ref[col])]
                r[f"vs_sb3_{k}_rounds"] = rr

    # time to 1 % of W*
    target: list[dict] = []
    n_t = 64 if 64 in a.n_envs else a.n_envs[0]
    if not a.no_target and a.ppo_steps:
        d = ppo[n_t]
        w = exact_protocol_work(d["lams"])
        mc, se = numpy_protocol_work(d["lams"], a.eval_traj, seed=a.seed + 1)
        ok = w < 1.01 * W_STAR
        target.append({"code": f"nephlab PPO ({n_t} envs), first call, fresh process", "time_s": d["process_first"],
                       "env_steps": d["env_steps"], "reached": ok, "work_exact": w, "work_mc": mc, "work_se": se,
                       "note": f"incl. import {d['import']:.1f} s and compilation; train call {d['first']:.1f} s"})
        target.append({"code": f"nephlab PPO ({n_t} envs), warm", "time_s": d["warm"], "env_steps": d["env_steps"],
                       "reached": ok, "work_exact": w, "work_mc": mc, "work_se": se,
                       "note": "time of the whole fixed-budget run (upper bound)"})
    if not a.no_target and a.ppo_ladder:
        lad = _run_ppo_ladder(n_t, a.seed, a.ppo_ladder)
        e = lad[-1]
        tried = ", ".join(f"{x['budget']}: W={x['work']:.3f}" for x in lad)
        mc, se = numpy_protocol_work(e["lams"], a.eval_traj, seed=a.seed + 1)
        ok = "warm" in e
        target.append({"code": f"nephlab PPO ({n_t} envs), smallest budget of the ladder, first call",
                       "time_s": e["first"], "env_steps": e["budget"], "reached": ok, "work_exact": e["work"],
                       "work_mc": mc, "work_se": se,
                       "note": f"incl. compilation; fresh process, whole ladder {e['cumulative']:.0f} s ({tried})"})
        target.append({"code": f"nephlab PPO ({n_t} envs), smallest budget of the ladder, warm",
                       "time_s": e.get("warm", float("nan")), "env_steps": e["budget"], "reached": ok,
                       "work_exact": e["work"], "work_mc": mc, "work_se": se,
                       "note": "second call of the same jitted config"})
    if not a.no_target and sb3:
        st = _sb3_target(n_t, a.sb3_budget, a.sb3_time_cap, a.seed)
        lams = st.get("best_lams", np.full(N_STEPS, np.nan))
        mc, se = numpy_protocol_work(lams, a.eval_traj, seed=a.seed + 1)
        reached = st["reached"] is not None
        target.append({"code": f"SB3 PPO ({n_t} envs, DummyVecEnv)",
                       "time_s": st["reached"][0] if reached else st["wall"],
                       "env_steps": st["reached"][1] if reached else st["steps"], "reached": reached,
                       "work_exact": st["best"], "work_mc": mc, "work_se": se,
                       "note": ("checked after every rollout" if reached else
                                f"not reached in {st['wall']:.0f} s ({st['steps']} env steps; cap "
                                f"{a.sb3_time_cap:.0f} s, budget {a.sb3_budget}); best policy shown")})
    elif not a.no_target:
        target.append({"code": f"SB3 PPO ({n_t} envs, DummyVecEnv)", "time_s": float("nan"), "env_steps": 0,
                       "reached": None, "work_exact": float("nan"), "work_mc": float("nan"),
                       "work_se": float("nan"), "note": sb3_note})

    load1 = _load()
    res = {"sb3_torch_threads": a.torch_threads if sb3 else None, "problem": {"tau": TAU, "lam_i": LAM_I, "lam_f": LAM_F, "k": K, "gamma": GAMMA, "kBT": KBT,
                       "n_steps": N_STEPS, "W_star": W_STAR, "horizon": a.horizon, "repeats": a.repeats},
           "machine": {**mach, "load_start": load0, "load_end": load1},
           "throughput": rows, "target": target, "wall_s": time.perf_counter() - t_start}
    _print(res, markdown=a.markdown)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
    return 0


def _f(v, fmt=".3g"):
    return "–" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)


def _print(res: dict, markdown: bool = False) -> None:
    m, p = res["machine"], res["problem"]
    if not markdown:
        print(f"learn benchmark: trap translation, tau={p['tau']}, lam {p['lam_i']} -> {p['lam_f']}, "
              f"n_steps={p['n_steps']}, W*={p['W_star']:.5f}; raw stepping {p['horizon']} steps/env, "
              f"median of {p['repeats']}")
        print(f"  cpu {m['cpu']}, {m['cores']} cores; load average (1, 5, 15 min) start {m['load_start']}, "
              f"end {m['load_end']}")
        print("  " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print("| code | n envs | env steps | first call (s) | median (s) | min–max (s) | env steps/s | vs SB3 PPO, same n envs "
          "| CPU time (s) | env steps per CPU-s | vs SB3 by CPU time | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["throughput"]:
        vs = _f(r["vs_sb3_same_n"]) + "×" if r["vs_sb3_same_n"] == r["vs_sb3_same_n"] else "–"
        vc = r.get("vs_sb3_cpu_same_n", float("nan"))
        vc = _f(vc) + "×" if vc == vc else "–"
        mm = f"{_f(r['min_s'])}–{_f(r['max_s'])}" if r.get("runs_s") else "–"
        print(f"| {r['code']} | {r['n_envs']} | {r['env_steps']} | {_f(r['first_s'])} | {_f(r['median_s'])} | {mm} | "
              f"{_f(r['steps_per_s'])} | {vs} | {_f(r.get('cpu_s'))} | {_f(r.get('steps_per_cpu_s'))} | {vc} | "
              f"{r['note']} |")
    paired = [r for r in res["throughput"] if r.get("vs_sb3_wall_rounds")]
    if paired:
        print()
        print("| nephlab PPO vs SB3 PPO (DummyVecEnv, same n envs) | n envs | rounds | wall: ratio of medians "
              "| wall: per round, min–max | CPU: ratio of medians | CPU: per round, min–max |")
        print("|---|---|---|---|---|---|---|")
        for r in paired:
            w, c = r["vs_sb3_wall_rounds"], r["vs_sb3_cpu_rounds"]
            print(f"| {r['code']} | {r['n_envs']} | {len(w)} | {_f(r['vs_sb3_same_n'])}× | {_f(min(w))}–{_f(max(w))}× "
                  f"| {_f(r['vs_sb3_cpu_same_n'])}× | {_f(min(c))}–{_f(max(c))}× |")
    if res["target"]:
        print()
        print(f"| time to 1 % of W* = {p['W_star']:.4f} | time (s) | env steps | reached | exact mean work "
              f"| MC mean work ± SE | note |")
        print("|---|---|---|---|---|---|---|")
        for t in res["target"]:
            reached = "–" if t["reached"] is None else ("yes" if t["reached"] else "no")
            print(f"| {t['code']} | {_f(t['time_s'])} | {t['env_steps']} | {reached} | {_f(t['work_exact'], '.4f')} | "
                  f"{_f(t['work_mc'], '.4f')} ± {_f(t['work_se'], '.2g')} | {t['note']} |")
    if not markdown:
        print(f"  wall time {res['wall_s']:.0f} s")
