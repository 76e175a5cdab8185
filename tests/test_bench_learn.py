"""nephlab.bench.learn: the NumPy/gymnasium ports are the same physics as TrapEnv; CLI smoke test."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.bench import learn
from nephlab.control import optimal_protocol
from nephlab.learn import TrapEnv, evaluate_policy

N = learn.N_STEPS


def _ss_table():
    """Schmiedl-Seifert protocol sampled at the interval midpoints (piecewise constant)."""
    return optimal_protocol("trap_translation", tau=1.0, lam_f=5.0).lam((np.arange(N) + 0.5) / N)


def _trap_exact_work(lams):
    env = TrapEnv("translation", exact_moments=True, n_steps=N)
    table = jnp.asarray(lams)
    pol = lambda o: table[jnp.clip(jnp.round(o[0] * N).astype(int), 0, N - 1)].reshape(1)  # noqa: E731
    return evaluate_policy(pol, env, n_traj=2, seed=0).mean


def test_exact_work_matches_trap_env_exact_moments():
    lams = _ss_table()
    assert abs(learn.exact_protocol_work(lams) - _trap_exact_work(lams)) < 1e-12
    # the piecewise protocol is close to (and above) W* = 25/3
    assert learn.W_STAR < learn.exact_protocol_work(lams) < 1.001 * learn.W_STAR


def test_numpy_port_mean_work_agrees_with_trap_env():
    """MC mean of the NumPy port (2e5 trajectories, SE ~ 0.0091 since Var W = 2 kBT <W>) vs TrapEnv's
    exact mean (exact_moments): within 4 standard errors."""
    lams = _ss_table()
    m, se = learn.numpy_protocol_work(lams, 200_000, seed=3)
    exact = _trap_exact_work(lams)
    assert 0.005 < se < 0.015
    assert abs(m - exact) < 4 * se
    # the fluctuation theorem fixes the variance of the Gaussian work: Var W = 2 kBT (<W> - dF), dF = 0
    assert abs((se**2 * 200_000) / (2 * exact) - 1) < 0.03


def test_gym_port_is_the_same_env():
    gym = pytest.importorskip("gymnasium")  # noqa: F841
    env = learn._gym_env_class()()
    lams = _ss_table()
    ws = []
    for ep in range(4000):
        env.reset(seed=ep)
        w = 0.0
        for j, lam in enumerate(lams):
            obs, r, term, trunc, info = env.step(np.array([(lam - 2.5) / 2.5], np.float32))
            w -= r
            assert term == (j == N - 1) and not trunc
        ws.append(w)
    ws = np.asarray(ws)
    se = ws.std(ddof=1) / np.sqrt(len(ws))
    # float32 actions: the protocol is rounded to ~1e-7, far below the SE (~0.065)
    assert abs(ws.mean() - _trap_exact_work(lams)) < 4 * se


def test_cli_smoke(tmp_path, capsys, monkeypatch):
    """Tiny sizes; SB3 is skipped (it is absent in CI), and its rows say how to install it."""
    monkeypatch.setattr(learn, "_sb3_available", lambda: False)
    out = tmp_path / "out.json"
    rc = learn.main(["--n-envs", "4", "8", "--horizon", "16", "--repeats", "1", "--ppo-steps", "0", "--ppo-ladder",
                     "--gym-steps", "100", "--eval-traj", "100", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "nephlab TrapEnv, jit(vmap+scan)" in text and "NumPy port, Python loop" in text
    assert learn.NA_SB3 in text and "load average" in text
    res = json.loads(out.read_text())
    assert {r["n_envs"] for r in res["throughput"]} == {1, 4, 8}
    gym = importlib.util.find_spec("gymnasium") is not None  # absent in CI: its row says how to install it
    for r in res["throughput"]:
        if r["code"].startswith("SB3") or (r["code"].startswith("gymnasium") and not gym):
            assert r["note"].startswith("n/a") or r["code"].startswith("SB3")
        else:
            assert r["steps_per_s"] > 0, r
    assert res["machine"]["versions"]["jax"] == jax.__version__
    rc = learn.main(["--n-envs", "4", "--horizon", "8", "--repeats", "1", "--ppo-steps", "0", "--ppo-ladder",
                     "--gym-steps", "10", "--markdown", "--no-target"])
    assert rc == 0 and capsys.readouterr().out.startswith("| code |")


def test_cli_dispatch_and_bad_input(capsys):
    from nephlab.cli import main as cli_main

    assert cli_main(["bench", "--help"]) == 0  # the subcommand's help goes through argparse's % formatting
    assert "learn" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main(["bench", "learn", "--help"])
    assert "Stable-Baselines3" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        learn.main(["--n-envs", "0"])
    assert "--n-envs" in capsys.readouterr().err


def test_ppo_rows_repeat_interleaved(monkeypatch):
    """A tiny PPO run in its child process: one first call, then --repeats warm calls driven one by
    one (as they alternate with SB3's runs); the row reports their median, min and max."""
    monkeypatch.setattr(learn, "_sb3_available", lambda: False)
    calls = []
    warm = learn._PPOChild.warm
    monkeypatch.setattr(learn._PPOChild, "warm", lambda self: (calls.append(1), warm(self)))
    res = {}

    def grab(r, markdown=False):
        res.update(r)

    monkeypatch.setattr(learn, "_print", grab)
    assert learn.main(["--n-envs", "4", "--horizon", "8", "--repeats", "2", "--ppo-steps", "64", "--no-target",
                       "--gym-steps", "10"]) == 0
    assert len(calls) == 2
    row = next(r for r in res["throughput"] if r["code"] == "nephlab PPO training loop")
    assert row["env_steps"] == 64 and len(row["runs_s"]) == len(row["runs_cpu_s"]) == 2
    assert row["min_s"] <= row["median_s"] <= row["max_s"] and row["first_s"] > 0
    assert row["median_s"] == sum(row["runs_s"]) / 2
