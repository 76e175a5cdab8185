"""nephlab.learn.persist: checkpoints and the shipped pretrained policies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.learn import (
    LinearQuadraticEnv,
    TrapEnv,
    evaluate_policy,
    load_policy,
    make_policy,
    policy_header,
    pretrained,
    pretrained_names,
    pretrained_path,
    save_policy,
)


def test_round_trip(tmp_path):
    env = TrapEnv("stiffness", feedback=True, n_steps=5)
    pol = make_policy(env, seed=3, hidden=(16, 8))
    f = save_policy(pol, tmp_path / "a.policy", env_params=env.default_params, metadata={"note": "x"})
    back = load_policy(f, like=pol)
    obs = jax.random.normal(jax.random.key(0), (7, 3))
    assert np.array_equal(np.asarray(back(obs)), np.asarray(pol(obs)))
    assert back.arch == pol.arch and back.env_spec == pol.env_spec
    assert back.env().n_steps() == 5 and back.env().feedback
    h = policy_header(f)
    assert h["metadata"] == {"note": "x"} and h["env_params"]["n_steps"] == 5 and h["nephlab_version"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_policy(pol, f)
    save_policy(pol, f, overwrite=True)


def test_float32_trained_policy_round_trip(tmp_path):
    """PPO trains in float32 by default; its checkpoint loads (as float64, exactly the stored
    values) and acts as the trained policy did, and fine-tunes again (cast back to float32)."""
    from nephlab.learn import train_ppo

    env = TrapEnv("translation", n_steps=4)
    pol = train_ppo(env, total_steps=4 * 16, n_envs=16, seed=0).policy
    assert jax.tree_util.tree_leaves(pol.params)[0].dtype == jnp.float32
    back = load_policy(save_policy(pol, tmp_path / "f32.policy"), like=pol)
    assert all(x.dtype == jnp.float64 for x in jax.tree_util.tree_leaves(back.params))
    obs = jnp.array([[0.25, 1.0], [0.5, 2.0]])
    assert np.array_equal(np.asarray(back(obs)), np.asarray(pol(obs)))
    again = train_ppo(env, total_steps=4 * 16, n_envs=16, seed=0, init_policy=back).policy
    assert jax.tree_util.tree_leaves(again.params)[0].dtype == jnp.float32


def test_lq_policy_round_trip(tmp_path):
    env = LinearQuadraticEnv(np.eye(2), np.eye(2), np.eye(2), np.eye(2), n_steps=3)
    pol = make_policy(env, hidden=(4,))
    back = load_policy(save_policy(pol, tmp_path / "lq.policy"))
    assert back.env().action_size == 2
    assert np.allclose(back(jnp.ones(3)), pol(jnp.ones(3)))


def test_other_architecture_is_refused(tmp_path):
    env = TrapEnv("translation")
    f = save_policy(make_policy(env, hidden=(16, 16)), tmp_path / "p.policy")
    with pytest.raises(ValueError, match=r"different architecture: hidden: checkpoint \[16, 16\] vs expected \[32\]"):
        load_policy(f, like=make_policy(env, hidden=(32,)))
    with pytest.raises(ValueError, match="observation_size: checkpoint 2 vs expected 3"):
        load_policy(f, like=make_policy(TrapEnv("translation", feedback=True), hidden=(16, 16)))


def test_damaged_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_bytes(b"hello world, not a policy")
    with pytest.raises(ValueError, match="not a nephlab policy checkpoint"):
        load_policy(bad)
    f = save_policy(make_policy(TrapEnv("translation"), hidden=(8,)), tmp_path / "p.policy")
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) - 40])
    with pytest.raises(ValueError, match="damaged|shapes"):
        load_policy(f)
    with pytest.raises(FileNotFoundError):
        load_policy(tmp_path / "missing.policy")


def test_pretrained_names_and_errors():
    assert {"trap-translation", "trap-stiffness"} <= set(pretrained_names())
    with pytest.raises(ValueError, match="name must be one of"):
        pretrained("trap-rotation")


@pytest.mark.parametrize("name", ["trap-translation", "trap-stiffness"])
def test_pretrained_reaches_recorded_performance(name):
    pol = pretrained(name)
    perf = policy_header(pretrained_path(name))["metadata"]["performance"]
    env = pol.env()
    exact_env = TrapEnv(env.problem, exact_moments=True, **{k: v for k, v in
                                                            policy_header(pretrained_path(name))["env_params"].items()})
    w = evaluate_policy(pol, exact_env, n_traj=2, seed=0).mean
    # deterministic: the exact mean work of the stored protocol is reproduced to rounding
    assert w == pytest.approx(perf["exact_mean_work"], rel=1e-10)
    assert perf["w_star"] <= w < 1.01 * perf["w_star"]
    # and with sampled noise (SE ~ 0.2 % of W* with 4e4 trajectories)
    mc = evaluate_policy(pol, env, n_traj=40_000, seed=5)
    assert abs(mc.mean - w) < 4 * mc.se
