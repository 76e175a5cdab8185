"""nephlab.learn.ppo: PPO against the exact optima of nephlab.control."""

import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.control import optimal_protocol
from nephlab.learn import (
    LinearQuadraticEnv,
    Policy,
    PPOConfig,
    PPOResult,
    TrapEnv,
    evaluate_policy,
    make_policy,
    make_train,
    policy_protocol,
    train_ppo,
)

W_STAR = 25.0 / 3.0  # Schmiedl-Seifert, tau = 1, lam_f = 5, k = gamma = kBT = 1


@pytest.mark.parametrize("kw, match", [
    (dict(lr=-1.0), "lr must be finite and > 0"),
    (dict(gamma=0.0), r"gamma must be in \(0, 1\]"),
    (dict(gae_lambda=1.5), r"gae_lambda must be in \[0, 1\]"),
    (dict(n_envs=0), "n_envs must be a positive integer"),
    (dict(hidden=(64, 0)), "hidden must be"),
    (dict(clip_eps=float("nan")), "clip_eps must be finite"),
    (dict(activation="sigmoid"), "activation must be one of"),
    (dict(dtype="float16"), "dtype must be one of"),
])
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        PPOConfig(**kw)


def test_make_train_is_pure_jitted_and_vmaps_over_seeds():
    env = TrapEnv("translation", n_steps=4)
    train = make_train(env, PPOConfig(n_envs=8, hidden=(8,)), n_updates=3)
    keys = jax.random.split(jax.random.key(0), 2)
    run = jax.jit(jax.vmap(train))
    params, ret = run(keys)
    assert ret.shape == (2, 3) and np.all(np.isfinite(ret))
    params2, ret2 = run(keys)  # deterministic in the key
    assert np.array_equal(ret, ret2)
    assert not np.array_equal(ret[0], ret[1])


def test_minibatch_divisibility_error():
    with pytest.raises(ValueError, match="n_minibatches=3 must divide"):
        make_train(TrapEnv("translation", n_steps=4), PPOConfig(n_envs=8, n_minibatches=3), n_updates=1)


@pytest.mark.parametrize("n", [1, 2, 5, 512, 1625, 1626, 8192])
def test_fast_permutation_is_jax_random_permutation(n):
    """The minibatch permutation of make_train is jax.random.permutation's, element for element
    (one sort round up to n = 1625, two above), so training is unchanged by the faster sort."""
    from nephlab.learn.ppo import _permutation

    for s in range(3):
        k = jax.random.key(1000 * n + s)
        ref = jax.random.permutation(k, n)
        got = jax.jit(_permutation, static_argnums=1)(k, n)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    if n > 2:  # and it is a shuffle, not the identity
        assert not np.array_equal(np.asarray(got), np.arange(n))


def test_unrolled_threefry_key_draws_the_same_bits():
    """make_train converts its threefry key to one whose draws (split, bits of every width, normal,
    uniform, fold_in, the minibatch permutation, vmapped as in the envs) are JAX's, bit for bit;
    other keys pass unchanged."""
    from nephlab.learn.ppo import _permutation, _unrolled_key

    draws = [lambda k: jax.random.key_data(jax.random.split(k, 3)),
             lambda k: jax.random.key_data(jax.random.split(k, (4, 5))),
             lambda k: jax.random.normal(k, (64,), jnp.float64), lambda k: jax.random.normal(k, (64, 1), jnp.float32),
             lambda k: jax.random.bits(k, (7,), jnp.uint32), lambda k: jax.random.bits(k, (3, 5), jnp.uint8),
             lambda k: jax.random.bits(k, (5,), jnp.uint16), lambda k: jax.random.uniform(k, (9,)),
             lambda k: _permutation(k, 512), lambda k: jax.random.key_data(jax.random.fold_in(k, 5)),
             lambda k: jax.vmap(lambda kk: jax.random.normal(kk, dtype=jnp.float64))(jax.random.split(k, 64))]
    for seed in (0, 123456):
        k = jax.random.key(seed)
        for legacy in (k, jax.random.PRNGKey(seed)):
            f = _unrolled_key(legacy)
            assert str(jax.random.key_impl(f)) != "threefry2x32"
            for draw in draws:
                a, b = jax.jit(draw)(k), jax.jit(draw)(f)
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rbg = jax.random.key(0, impl="rbg")
    assert _unrolled_key(rbg) is rbg


def _reference_loss(net, c, ent_coef, params, b):
    """PPO's loss as make_train computed it with autodiff through flax (before the hand-written
    gradient): clipped surrogate on per-minibatch normalised advantages, value loss, entropy."""
    mean, log_std, value = net.apply(params, b["obs"])
    lp = jnp.sum(-0.5 * ((b["z"] - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
    v_loss = 0.5 * jnp.mean((value - b["target"]) ** 2)
    ratio = jnp.exp(lp - b["logp"])
    a = b["adv"]
    a = (a - a.mean()) / (a.std() + 1e-8)
    pg = -jnp.mean(jnp.minimum(ratio * a, jnp.clip(ratio, 1 - c.clip_eps, 1 + c.clip_eps) * a))
    ent = jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e))
    return pg + c.vf_coef * v_loss - ent_coef * ent


@pytest.mark.parametrize("hidden, activation, n_act", [((64, 64), "tanh", 1), ((8, 5, 3, 4, 6), "relu", 2),
                                                       ((7,), "gelu", 3)])
def test_hand_written_gradient_is_autodiff_of_the_ppo_loss(hidden, activation, n_act):
    """make_train's hand-written backward pass over the flat parameter vector equals jax.grad of
    the loss through flax (float64: to rounding), with samples on both sides of the ratio clip,
    for several depths (12 Dense layers: flax's 'Dense_10' sorts before 'Dense_2') and actions."""
    from jax.flatten_util import ravel_pytree

    from nephlab.learn.networks import ActorCritic
    from nephlab.learn.ppo import _ACTIVATIONS, _layout, _loss_grad

    c = PPOConfig(hidden=hidden, activation=activation)
    net = ActorCritic(action_size=n_act, hidden=hidden, activation=activation, init_log_std=-0.7)
    k = jax.random.split(jax.random.key(1), 7)
    params = net.init(k[0], jnp.zeros(2))
    params = jax.tree_util.tree_map(lambda x: x + 0.1 * jax.random.normal(k[1], x.shape), params)
    n = 128
    b = dict(obs=jax.random.normal(k[2], (n, 2)), z=0.3 * jax.random.normal(k[3], (n, n_act)),
             logp=0.5 * jax.random.normal(k[4], (n,)) - 1.0, adv=jax.random.normal(k[5], (n,)),
             target=jax.random.normal(k[6], (n,)))
    ent_coef = jnp.asarray(0.03)
    theta, unravel = ravel_pytree(params)
    ref = jax.jit(jax.grad(lambda th: _reference_loss(net, c, ent_coef, unravel(th), b)))(theta)
    mean, log_std, _ = net.apply(params, b["obs"])
    lp = jnp.sum(-0.5 * ((b["z"] - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
    clipped = np.abs(np.exp(np.asarray(lp - b["logp"])) - 1) > c.clip_eps
    assert 0.2 < clipped.mean() < 0.95  # both branches of the clip are exercised
    a = b["adv"]
    bn = {**b, "adv": (a - a.mean()) / (a.std() + 1e-8)}  # make_train normalises before the gradient steps
    got = jax.jit(lambda th: _loss_grad(th, _layout(params), bn, c, ent_coef, _ACTIVATIONS[activation]))(theta)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=1e-13 * float(jnp.abs(ref).max()))


@pytest.mark.parametrize("anneal", [True, False])
def test_flat_adam_is_optax_adam_with_global_norm_clipping(anneal):
    """make_train's Adam over the flat parameter vector takes optax's steps (float64, 30 steps,
    gradients both below and above the clipping norm, with and without the annealed rate)."""
    import optax

    from nephlab.learn.ppo import _adam_init, _adam_step

    c = PPOConfig(max_grad_norm=0.5)
    lr = (lambda count: 3e-3 * (1.0 - (count // 4) / 10)) if anneal else (lambda count: jnp.asarray(3e-3))
    tx = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(lr, eps=1e-5))
    k = jax.random.split(jax.random.key(2), 31)
    theta = jax.random.normal(k[0], (300,))
    th_ref, st_ref, st = theta, tx.init(theta), _adam_init(theta)
    norms = []
    for i in range(30):
        g = jax.random.normal(k[i + 1], (300,)) * (0.005 if i % 2 else 0.2)
        norms.append(float(jnp.linalg.norm(g)))
        upd, st_ref = tx.update(g, st_ref, th_ref)
        th_ref = optax.apply_updates(th_ref, upd)
        theta, st = _adam_step(theta, g, st, c, lr)
    assert min(norms) < 0.5 < max(norms)
    np.testing.assert_allclose(np.asarray(theta), np.asarray(th_ref), rtol=1e-13, atol=1e-15)


def _exact_work4(pol):
    """Exact mean work of ``pol``'s mean protocol on the 4-step translation trap (a monitor)."""
    return TrapEnv("translation", n_steps=4, exact_moments=True).rollout(jax.random.key(0), pol)["work"].sum()


@pytest.fixture(scope="module")
def small_run():
    """One small training (2 seeds, 5 updates, with a monitor) shared by the result and monitor
    tests: one compilation instead of one per test."""
    env = TrapEnv("translation", n_steps=4)
    return env, train_ppo(env, total_steps=4 * 16 * 5, n_envs=16, seed=1, n_seeds=2, config=PPOConfig(hidden=(8,)),
                          monitor=_exact_work4)


def test_train_ppo_result_small(small_run):
    env, res = small_run
    assert isinstance(res, PPOResult) and isinstance(res.policy, Policy) and len(res.policies) == 2
    h = res.history
    assert h.returns.dims == ("seed", "update") and h.returns.shape == (2, 5)
    assert h.env_steps.values[-1] == 4 * 16 * 5
    lam = res.protocol(np.array([0.0, 0.3, 0.99, 1.0]))
    assert lam.shape == (4,) and lam[-1] == 5.0
    ev = res.evaluate(n_traj=100, seed=0)
    assert ev.quantity == "work" and ev.se > 0
    with pytest.raises(ValueError, match="total_steps=10 is less than one update"):
        train_ppo(env, total_steps=10, n_envs=16, seed=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        train_ppo(env, total_steps=1000, n_envs=16, seed=None)


def test_evaluate_policy_of_exact_protocol():
    """A plain callable (the Schmiedl-Seifert protocol at the interval midpoints) as a policy."""
    n = 16
    env = TrapEnv("translation", n_steps=n)
    ss = optimal_protocol("trap_translation", tau=1.0, lam_f=5.0)
    table = jnp.asarray(ss.lam((np.arange(n) + 0.5) / n))
    pol = lambda o: table[jnp.round(o[0] * n).astype(int)][None]  # noqa: E731
    exact = evaluate_policy(pol, TrapEnv("translation", exact_moments=True, n_steps=n), n_traj=2, seed=0)
    assert exact.se == 0.0 and W_STAR < exact.mean < W_STAR * 1.0002
    mc = evaluate_policy(pol, env, n_traj=40_000, seed=3, batch=10_000)
    # translation: W is Gaussian with var 2 kBT <W>; SE ~ sqrt(2*8.33/4e4) = 0.02
    assert abs(mc.mean - exact.mean) < 4 * mc.se
    assert mc.mean_return == pytest.approx(-mc.mean)
    assert np.allclose(policy_protocol(pol, env, [0.01, 0.5]), ss.lam(np.array([0.5 / n, 8.5 / n])))


def test_evaluate_policy_checks():
    env = TrapEnv("translation")
    with pytest.raises(TypeError, match="policy must be a Policy or a callable"):
        evaluate_policy(3, env, n_traj=10, seed=0)
    with pytest.raises(ValueError, match="policy expects observations of size 3"):
        evaluate_policy(make_policy(TrapEnv("translation", feedback=True)), env, n_traj=10, seed=0)
    with pytest.raises(ValueError, match="feedback=True"):
        policy_protocol(lambda o: o[1:2], TrapEnv("translation", feedback=True), [0.5])


@pytest.mark.slow
def test_ppo_trap_translation_reaches_one_percent_of_w_star():
    """Headline target: PPO on the *noisy* env; the learned mean protocol is within 1 % of W*.

    Checked twice: exactly (exact_moments env, no sampling error) and with 1e5 sampled
    trajectories (SE ~ 0.013, i.e. 0.16 % of W*).
    """
    env = TrapEnv("translation", n_steps=8)
    t0 = time.perf_counter()
    res = train_ppo(env, total_steps=1_000_000, n_envs=64, seed=0)
    print(f"PPO trap translation: {time.perf_counter() - t0:.1f} s for 1e6 env steps")
    exact = evaluate_policy(res.policy, TrapEnv("translation", exact_moments=True, n_steps=8), n_traj=2, seed=0)
    assert W_STAR <= exact.mean < 1.01 * W_STAR
    # Pontryagin's answer (solve_pmp on the mean-work problem): the policy matches it to 1 %
    # (a protocol with 8 constant pieces cannot beat the continuous optimum)
    from nephlab.control import pontryagin_protocol

    pmp = pontryagin_protocol("trap_translation", tau=1.0, lam_f=5.0)
    assert pmp.work * (1 - 1e-9) <= exact.mean < 1.01 * pmp.work
    mc = res.evaluate(n_traj=100_000, seed=1)
    assert abs(mc.mean - W_STAR) < 0.01 * W_STAR + 4 * mc.se
    # the learned protocol follows Schmiedl-Seifert (interval midpoints) to ~0.1-0.3 in lam inside,
    # less well at the ends, where the 1 % work budget allows more: over 7 seeds (train_ppo
    # seed=0 n_seeds=3 and seed=1 n_seeds=4) the largest deviation was 0.17-0.55 in float64 and
    # 0.14-0.51 in float32 for the runs within 1 % of W* (this seed: 0.51 in float32)
    n = 8
    ss = optimal_protocol("trap_translation", tau=1.0, lam_f=5.0).lam((np.arange(n) + 0.5) / n)
    assert np.max(np.abs(res.protocol((np.arange(n) + 0.5) / n) - ss)) < 0.6


@pytest.mark.slow
def test_ppo_trap_stiffness_reaches_one_percent_of_schmiedl_seifert():
    """Stiffness k: 1 -> 4 in tau = 1 (gamma = kBT = 1); noisy env; exact and sampled checks."""
    env = TrapEnv("stiffness", n_steps=8)
    w_star = optimal_protocol("stiffness", tau=1.0, k_i=1.0, k_f=4.0).work
    cfg = PPOConfig(ent_coef=0.02, init_log_std=-2.5)
    t0 = time.perf_counter()
    res = train_ppo(env, total_steps=3_000_000, n_envs=256, seed=0, config=cfg)
    print(f"PPO trap stiffness: {time.perf_counter() - t0:.1f} s for 3e6 env steps")
    exact = evaluate_policy(res.policy, TrapEnv("stiffness", exact_moments=True, n_steps=8), n_traj=2, seed=0)
    assert w_star <= exact.mean < 1.01 * w_star
    mc = res.evaluate(n_traj=100_000, seed=1)
    assert abs(mc.mean - w_star) < 0.01 * w_star + 4 * mc.se


def _lq_problem(n_steps):
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])  # harmonic oscillator, force control
    B = np.array([[0.0], [1.0]])
    Q, R, QT = np.eye(2), np.array([[1.0]]), np.eye(2)
    env = LinearQuadraticEnv(A, B, Q, R, QT=QT, x0_mean=[0.0, 0.0], x0_std=1.0, tau=2.0, n_steps=n_steps,
                             n_substeps=10)
    from nephlab.control import lqr

    return env, lqr(A, B, Q, R, horizon=2.0, Qf=QT, n_points=n_steps + 1)


def _cost_minus_riccati(policy, env, sol, n, seed):
    """Per-trajectory cost minus x0^T P(0) x0 (a control variate: the same x0), mean and SE."""
    P0 = jnp.asarray(sol.P[0])

    @jax.jit
    def run(keys):
        def one(k):
            out = env.rollout(k, policy)
            x0 = out["obs"][0, 1:]
            return -out["reward"].sum() - x0 @ P0 @ x0
        return jax.vmap(one)(keys)

    d = np.asarray(run(jax.random.split(jax.random.key(seed), n)))
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))


@pytest.mark.slow
def test_ppo_qubit_state_transfer_within_one_percent_of_grape():
    """QubitEnv: |0> -> |1> under H = (delta/2) sz + (u/2) sx, |u| <= 2, delta = 1, tau = 3, 8 slices.

    A constant drive reaches at most u^2/(u^2 + delta^2) = 0.8, so the policy must learn a switching
    pulse. The environment is deterministic, so the policy's fidelity is exact; GRAPE on the same
    slices and bounds is the reference optimum (fidelity 1 - 7e-13).
    """
    from nephlab.control.grape import grape
    from nephlab.learn import QubitEnv

    sx, sz = np.array([[0.0, 1.0], [1.0, 0.0]]), np.diag([1.0, -1.0])
    ref = grape(0.5 * sz, [0.5 * sx], [1, 0], [0, 1], 3.0, 8, u_bounds=(-2.0, 2.0), seed=0)
    f_star = 1.0 - ref.infidelity
    assert f_star > 1 - 1e-9
    env = QubitEnv(delta=1.0, u_max=2.0, tau=3.0, n_steps=8)
    constant = env.rollout(jax.random.key(0), lambda o: jnp.array([2.0]))["reward"].sum()
    assert float(constant) == pytest.approx(0.8 * math.sin(math.sqrt(5.0) * 1.5) ** 2, abs=1e-12)
    res = train_ppo(env, total_steps=100_000, n_envs=64, seed=0)
    ev = evaluate_policy(res.policy, env, n_traj=2, seed=0)
    assert ev.se == 0.0  # deterministic: the policy's mean action on a noiseless system
    assert 0.99 * f_star <= ev.mean <= f_star + 1e-9


@pytest.mark.slow
def test_ppo_linear_quadratic_2d_within_one_percent_of_riccati():
    """2-D LQ (x0 ~ N(0, I), tau = 2): E[cost] vs the Riccati optimum tr P(0) of nephlab.control.lqr."""
    env, sol = _lq_problem(20)
    opt = float(np.trace(sol.P[0]))
    K = jnp.asarray(sol.K)
    lqr_pol = lambda o: -K[jnp.round(o[0] * 20).astype(int)] @ o[1:]  # noqa: E731
    d_lqr, se_lqr = _cost_minus_riccati(lqr_pol, env, sol, 20_000, 0)
    # the Riccati gain itself, sampled and held on 20 decision intervals: a small excess
    assert 0 <= d_lqr / opt < 0.01
    t0 = time.perf_counter()
    res = train_ppo(env, total_steps=1_000_000, n_envs=64, seed=0, config=PPOConfig(init_log_std=-1.0, ent_coef=0.0))
    print(f"PPO 2-D LQ: {time.perf_counter() - t0:.1f} s for 1e6 env steps")
    d, se = _cost_minus_riccati(res.policy, env, sol, 20_000, 1)
    print(f"LQ: Riccati {opt:.5f}, sampled LQR excess {d_lqr / opt:.4%}, PPO excess {d / opt:.4%} ± {se / opt:.2%}")
    assert d > -4 * se  # cannot beat the optimum
    assert d < 0.01 * opt


@pytest.mark.slow
def test_transfer_unseen_parameters():
    """One policy for k, gamma in [0.7, 1.5], lam_f in [4, 6], tau in [0.7, 1.5] (trap translation):
    within 2 % of W* = gamma lam_f^2/(tau + 2 gamma/k) on systems it never saw (exact evaluation)."""
    from nephlab.learn import ParametricEnv

    rng = {"k": (0.7, 1.5), "gamma": (0.7, 1.5), "lam_f": (4.0, 6.0), "tau": (0.7, 1.5)}
    env = ParametricEnv(TrapEnv("translation", n_steps=8), rng)
    exact = ParametricEnv(TrapEnv("translation", n_steps=8, exact_moments=True), rng)
    t0 = time.perf_counter()
    res = train_ppo(env, total_steps=3_000_000, n_envs=256, seed=0)
    print(f"PPO transfer: {time.perf_counter() - t0:.1f} s for 3e6 env steps")

    def excess(policy, vals):
        w = evaluate_policy(policy, exact.at(**vals), n_traj=2, seed=0).mean
        w_star = optimal_protocol("trap_translation", tau=vals["tau"], lam_f=vals["lam_f"], k=vals["k"],
                                  gamma=vals["gamma"]).work
        return w / w_star - 1.0

    for vals in (dict(k=0.8, gamma=1.3, lam_f=4.5, tau=1.3), dict(k=1.4, gamma=0.8, lam_f=5.5, tau=0.8),
                 dict(k=1.1, gamma=1.1, lam_f=4.2, tau=1.45)):
        e = excess(res.policy, vals)
        print("unseen", vals, f"{e:.3%}")
        assert 0 <= e < 0.02


def test_fine_tuning_starts_from_the_given_policy():
    """The float64 parameters of ``start`` are rounded to float32 for training (default dtype):
    the actions then agree to float32 precision (|action| <= 5, eps 6e-8); with
    ``dtype="float64"`` to 1e-9."""
    env = TrapEnv("translation", n_steps=4)
    start = make_policy(env, seed=5, hidden=(8,))
    obs = jnp.array([[0.25, 1.0], [0.5, 2.0]])
    for dtype, atol in (("float32", 1e-5), ("float64", 1e-9)):
        res = train_ppo(env, total_steps=4 * 16, n_envs=16, seed=0, init_policy=start,
                        config=PPOConfig(lr=1e-12, dtype=dtype))
        assert all(x.dtype == jnp.dtype(dtype) for x in jax.tree_util.tree_leaves(res.policy.params))
        assert np.allclose(res.policy(obs), start(obs), atol=atol)
    with pytest.raises(ValueError, match="init_policy has arch"):
        train_ppo(TrapEnv("translation", feedback=True), total_steps=1000, n_envs=16, seed=0, init_policy=start)


def test_fine_tuning_recipe_restarts_the_exploration_noise():
    """train_ppo(init_policy=...) without a config uses PPOConfig.fine_tuning(), which sets the
    given policy's log std to -1 before training (one update of 16 Adam steps at lr 3e-4 then
    moves it by at most ~0.005)."""
    env = TrapEnv("translation", n_steps=4)
    start = make_policy(env, seed=5, hidden=(8,), init_log_std=-2.5)
    res = train_ppo(env, total_steps=4 * 16, n_envs=16, seed=0, init_policy=start)
    assert json.loads(res.config) == PPOConfig.fine_tuning(n_envs=16).to_dict()
    assert abs(float(res.policy.params["params"]["log_std"][0]) + 1.0) < 0.01
    with pytest.raises(ValueError, match="fine_tune_log_std"):
        PPOConfig(fine_tune_log_std=float("nan"))


@pytest.mark.slow
def test_fine_tuning_recipe_beats_keeping_the_pretrained_std():
    """Transfer (issue 12): the pretrained trap-translation policy (k = 1) fine-tuned on k = 2.5.

    Budget 5120 env steps (10 updates of 64 episodes), seeds 0-4, excess over W* of the exact
    mean work of the mean protocol after each update. The recipe (train_ppo's default with
    init_policy) gets within 1 % on some seeds and to a median best excess of 1.07 %; the same
    recipe keeping the pretrained policy's annealed std stays at 1.65 % (its best is 1.2 %);
    from scratch, with the same budget, the best excess is 10-13 %. The margins (1.25 % vs
    1.4 %, 5 %) leave room for other CPUs' rounding.
    """
    from nephlab.learn import pretrained

    env = TrapEnv("translation", n_steps=8)
    p = env.default_params.replace(k=2.5)
    exact = TrapEnv("translation", n_steps=8, exact_moments=True)
    w_star = optimal_protocol("trap_translation", tau=1.0, lam_f=5.0, k=2.5).work
    key = jax.random.key(0)

    def excess(pol):
        return exact.rollout(key, pol, p)["work"].sum() / w_star - 1.0

    best = {}
    pre = pretrained("trap-translation")
    for name, init, config in (("recipe", pre, None), ("kept std", pre, PPOConfig.fine_tuning(fine_tune_log_std=None)),
                               ("scratch", None, None)):
        res = train_ppo(env, total_steps=5120, n_envs=64, seed=0, n_seeds=5, params=p, init_policy=init,
                        config=config, monitor=excess)
        best[name] = res.monitor.min(axis=1)
        print(name, np.round(best[name], 4), res.steps_to(0.01, stay=False))
        if name == "recipe":
            assert np.isfinite(res.steps_to(0.01, stay=False)).any()
    assert np.all(best["recipe"] > 0.004)  # no 8-piece protocol is within 0.5 % of W*
    assert np.median(best["recipe"]) < 0.0125 < 0.014 < np.median(best["kept std"])
    assert np.all(best["scratch"] > 0.05)


def test_callback_streams_each_update_and_can_stop_training():
    env = TrapEnv("translation", n_steps=4)
    seen = []
    res = train_ppo(env, total_steps=4 * 16 * 6, n_envs=16, seed=0, config=PPOConfig(hidden=(8,)),
                    callback=lambda i, r: seen.append((int(i), float(r))))
    assert [i for i, _ in seen] == list(range(6))
    np.testing.assert_allclose([r for _, r in seen], res.returns[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="no monitor"):  # a run without monitor= (this one) has no steps_to
        res.steps_to(1.0)

    class Stop(Exception):
        pass

    def stop(i, r):
        if int(i) == 2:
            raise Stop("enough")

    with pytest.raises(Exception, match="enough"):
        train_ppo(env, total_steps=4 * 16 * 6, n_envs=16, seed=0, config=PPOConfig(hidden=(8,)), callback=stop)
    with pytest.raises(TypeError, match="callback must be callable"):
        train_ppo(env, total_steps=4 * 16 * 6, n_envs=16, seed=0, callback=3)


def test_monitor_per_update_and_steps_to(small_run):
    """monitor(policy) is evaluated after every update inside the jitted loop: its values equal the
    exact mean work of the policy after that update (checked on the final one)."""
    env, res = small_run  # trained with monitor=_exact_work4
    ex = TrapEnv("translation", n_steps=4, exact_moments=True)
    assert res.monitor.shape == (2, 5) and np.isfinite(res.monitor).all()
    for i, pol in enumerate(res.policies):
        assert res.monitor[i, -1] == pytest.approx(evaluate_policy(pol, ex, n_traj=2, seed=0).mean, rel=1e-12)
    assert res.history.monitor.dims == ("seed", "update")
    thr = float(np.max(res.monitor)) + 1.0
    assert res.steps_to(thr).tolist() == [64.0, 64.0]  # all updates below: the first update's steps
    assert np.isnan(res.steps_to(-1.0)).all()
    with pytest.raises(TypeError, match="monitor must be callable"):
        train_ppo(env, total_steps=64, n_envs=16, seed=0, monitor=3)
