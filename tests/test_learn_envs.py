"""nephlab.learn.envs: exact checks of the environments against nephlab.control."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.control import gaussian_work, lqr, optimal_protocol
from nephlab.learn import LinearQuadraticEnv, QubitEnv, TrapEnv

W_STAR = 25.0 / 3.0  # Schmiedl-Seifert, tau = 1, lam_f = 5, k = gamma = kBT = 1


def _ss(problem, p):
    if problem == "translation":
        return optimal_protocol("trap_translation", tau=p.tau, lam_i=p.lam_i, lam_f=p.lam_f, k=p.k,
                                gamma=p.gamma, kBT=p.kBT)
    return optimal_protocol("stiffness", tau=p.tau, k_i=p.lam_i, k_f=p.lam_f, gamma=p.gamma, kBT=p.kBT)


def _piecewise(problem, p):
    """The Schmiedl-Seifert protocol sampled at the midpoints of the decision intervals."""
    dt = p.tau / p.n_steps
    return np.asarray(_ss(problem, p).lam((np.arange(p.n_steps) + 0.5) * dt))


def _grid(lams, p):
    """The piecewise-constant protocol as a node grid for gaussian_work (repeated times = jumps)."""
    n = len(lams)
    edges = np.linspace(0.0, p.tau, n + 1)
    times = np.concatenate([[0.0], np.repeat(edges[1:-1], 2), [p.tau], [p.tau]])
    times = np.concatenate([[0.0], times])
    vals = np.concatenate([[p.lam_i], np.repeat(lams, 2), [p.lam_f]])
    return times, vals


def _table_policy(lams, n):
    table = jnp.asarray(lams)
    return lambda obs: table[jnp.round(obs[0] * n).astype(int)][None]


@pytest.mark.parametrize("problem", ["translation", "stiffness"])
def test_exact_moments_return_is_minus_gaussian_work(problem):
    env = TrapEnv(problem, exact_moments=True, n_steps=12)
    p = env.default_params
    lams = _piecewise(problem, p)
    out = env.rollout(jax.random.key(0), _table_policy(lams, p.n_steps), p)
    kind = "trap_translation" if problem == "translation" else "stiffness"
    ref = gaussian_work(*_grid(lams, p), kind=kind, k=p.k, gamma=p.gamma, kBT=p.kBT, n_steps=4096)
    # RK4 with 4096 steps on constant segments: error ~1e-12; the env is exact (OU transition)
    assert float(-out["reward"].sum()) == pytest.approx(float(ref.mean) / p.kBT, rel=1e-9)
    assert np.allclose(out["action"][:, 0], lams)
    assert float(out["work"].sum()) == pytest.approx(float(ref.mean), rel=1e-9)


@pytest.mark.parametrize("problem", ["translation", "stiffness"])
def test_noisy_mean_work_agrees_with_exact(problem):
    env = TrapEnv(problem, n_steps=12)
    p = env.default_params
    lams = _piecewise(problem, p)
    pol = _table_policy(lams, p.n_steps)
    n = 100_000
    keys = jax.random.split(jax.random.key(7), n)
    w = jax.jit(jax.vmap(lambda k: env.rollout(k, pol, p)["work"].sum()))(keys)
    kind = "trap_translation" if problem == "translation" else "stiffness"
    ref = gaussian_work(*_grid(lams, p), kind=kind, n_steps=4096)
    se = float(np.std(w) / math.sqrt(n))
    assert abs(float(np.mean(w)) - float(ref.mean)) < 4 * se
    # the sample variance agrees with the exact work variance (relative SE of a variance ~ sqrt(2/n)*kurtosis)
    assert float(np.var(w)) == pytest.approx(float(ref.var), rel=0.03)


def test_piecewise_optimum_approaches_w_star():
    excess = []
    for n in (4, 16, 64):
        env = TrapEnv("translation", exact_moments=True, n_steps=n)
        p = env.default_params
        w = -float(env.rollout(jax.random.key(0), _table_policy(_piecewise("translation", p), n), p)["reward"].sum())
        excess.append(w / W_STAR - 1.0)
    assert all(e > 0 for e in excess)
    assert excess[0] > excess[1] > excess[2]
    assert excess[2] < 1e-4


def test_stiffness_piecewise_close_to_schmiedl_seifert():
    env = TrapEnv("stiffness", exact_moments=True, n_steps=64)
    p = env.default_params
    w = -float(env.rollout(jax.random.key(0), _table_policy(_piecewise("stiffness", p), 64), p)["reward"].sum())
    w_star = _ss("stiffness", p).work
    assert w_star <= w < w_star * (1 + 1e-3)


def test_feedback_observation_and_jit_vmap():
    env = TrapEnv("translation", feedback=True)
    p = env.default_params
    keys = jax.random.split(jax.random.key(1), 5)
    obs, st = jax.vmap(env.reset, in_axes=(0, None))(keys, p)
    assert obs.shape == (5, 3) and obs.dtype == jnp.float64
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs2, st2, r, d, info = step(keys, st, jnp.full((5, 1), 2.0), p)
    assert obs2.shape == (5, 3) and r.shape == (5,) and not bool(d.any())
    assert np.allclose(obs2[:, 0], 1 / p.n_steps) and np.allclose(obs2[:, 1], 2.0)


def test_auto_reset_at_episode_end():
    env = TrapEnv("translation", n_steps=2)
    p = env.default_params
    obs, s = env.reset(jax.random.key(0), p)
    for i in range(2):
        obs, s, r, d, _ = env.step(jax.random.key(i + 1), s, jnp.array([1.0]), p)
    assert bool(d) and int(s.step) == 0 and float(obs[0]) == 0.0 and float(obs[1]) == 0.0


def test_vmap_over_params():
    env = TrapEnv("translation", exact_moments=True, n_steps=8)
    p = env.default_params
    ps = jax.tree_util.tree_map(lambda v: jnp.asarray([v, v]), p)
    ps = ps.replace(lam_f=jnp.array([5.0, 2.0]))
    pol = lambda o: jnp.array([0.0])  # noqa: E731
    w = jax.vmap(lambda q: -env.rollout(jax.random.key(0), pol, q)["reward"].sum())(ps)
    # hold at lam_i, then one jump of (lam_f)^2/2 at the end from equilibrium at 0
    assert np.allclose(w, [12.5, 2.0])


@pytest.mark.parametrize("bad, match", [
    (dict(tau=-1.0), "tau must be > 0"),
    (dict(gamma=0.0), "gamma must be > 0"),
    (dict(kBT=float("nan")), "kBT must be finite"),
    (dict(lam_f=float("inf")), "lam_f must be finite"),
    (dict(n_steps=0), "n_steps must be a positive integer"),
])
def test_trap_params_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        TrapEnv("translation", **bad)
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TrapEnv("translation").default_params, **bad)


def test_bad_problem_and_stiffness_sign():
    with pytest.raises(ValueError, match="problem must be one of"):
        TrapEnv("rotation")
    with pytest.raises(ValueError, match="lam_i is a stiffness"):
        TrapEnv("stiffness", lam_i=-1.0)


def test_action_shape_error():
    env = TrapEnv("translation")
    obs, s = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"action must have shape \(1,\)"):
        env.step(jax.random.key(0), s, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"action must have shape \(1,\)"):
        jax.jit(env.step)(jax.random.key(0), s, jnp.zeros((2, 1)))


def test_lq_env_lqr_feedback_reaches_riccati_cost():
    A = np.array([[0.0, 1.0], [-1.0, -0.2]])
    B = np.array([[0.0], [1.0]])
    Q, R, QT = np.eye(2), np.array([[0.5]]), np.eye(2)
    T, n_dec, n_sub = 2.0, 400, 4
    env = LinearQuadraticEnv(A, B, Q, R, QT=QT, x0_mean=[1.0, -0.5], tau=T, n_steps=n_dec, n_substeps=n_sub)
    sol = lqr(A, B, Q, R, horizon=T, Qf=QT, n_points=n_dec + 1)
    K = jnp.asarray(sol.K)  # on the decision grid t_j = j T / n_dec
    pol = lambda o: -K[jnp.round(o[0] * n_dec).astype(int)] @ o[1:]  # noqa: E731
    cost = -float(env.rollout(jax.random.key(0), pol)["reward"].sum())
    # sample-and-hold control and Euler steps: O(dt) = O(5e-3) relative error
    assert cost == pytest.approx(sol.cost([1.0, -0.5]), rel=5e-3)


def test_lq_env_noise_adds_trace_term():
    # scalar: dx = -x dt + u dt + s dB; with u = -K x the extra cost is int s^2 P(t) dt
    env = LinearQuadraticEnv(-1.0, 1.0, 1.0, 1.0, sigma=0.5, x0_mean=[1.0], tau=1.0, n_steps=100, n_substeps=2)
    sol = lqr(-1.0, 1.0, 1.0, 1.0, horizon=1.0, n_points=101)
    K = jnp.asarray(sol.K)
    pol = lambda o: -K[jnp.round(o[0] * 100).astype(int)] @ o[1:]  # noqa: E731
    n = 20_000
    c = jax.jit(jax.vmap(lambda k: -env.rollout(k, pol)["reward"].sum()))(jax.random.split(jax.random.key(3), n))
    ref = sol.cost([1.0]) + 0.25 * np.trapezoid(sol.P[:, 0, 0], sol.t)
    se = float(np.std(c)) / math.sqrt(n)
    # 4 SE plus the O(dt) discretisation bias (1 % of the cost)
    assert abs(float(np.mean(c)) - ref) < 4 * se + 0.01 * ref


def test_lq_env_validation():
    with pytest.raises(ValueError, match="B must have shape"):
        LinearQuadraticEnv(np.eye(2), np.ones((3, 1)), np.eye(2), 1.0)
    with pytest.raises(ValueError, match="R must be positive definite"):
        LinearQuadraticEnv(1.0, 1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        LinearQuadraticEnv(1.0, 1.0, 1.0, 1.0, tau=0.0)
    env = LinearQuadraticEnv(np.eye(2), np.ones((2, 2)), np.eye(2), np.eye(2))
    _, s = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"action must have shape \(2,\)"):
        env.step(jax.random.key(0), s, jnp.zeros(1))


@pytest.mark.parametrize("u, delta", [(1.0, 0.0), (1.3, 0.7), (-2.0, 1.0)])
def test_qubit_rabi_formula(u, delta):
    tau = 2.1
    env = QubitEnv(tau=tau, delta=delta, u_max=3.0, n_steps=7)
    out = env.rollout(jax.random.key(0), lambda o: jnp.array([u]))
    om = math.hypot(u, delta)
    rabi = u * u / om**2 * math.sin(om * tau / 2) ** 2
    assert float(out["reward"].sum()) == pytest.approx(rabi, abs=1e-12)
    assert np.allclose(out["reward"][:-1], 0.0)


def test_qubit_clips_to_u_max_and_validates():
    env = QubitEnv(tau=1.0, delta=0.0, u_max=1.0)
    out = env.rollout(jax.random.key(0), lambda o: jnp.array([5.0]))
    assert np.allclose(out["u"], 1.0)
    with pytest.raises(ValueError, match="u_max must be > 0"):
        QubitEnv(u_max=-1.0)


def test_parametric_env_draws_and_shows_parameters():
    from nephlab.learn import ParametricEnv

    base = TrapEnv("translation", exact_moments=True, n_steps=4)
    env = ParametricEnv(base, {"lam_f": (2.0, 6.0), "k": (0.5, 2.0)})
    obs, st = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 200), env.default_params)
    assert obs.shape == (200, 4)
    lf, k = np.asarray(st.params.lam_f), np.asarray(st.params.k)
    assert 2.0 <= lf.min() and lf.max() <= 6.0 and 0.5 <= k.min() and k.max() <= 2.0
    assert np.allclose(obs[:, 2], (lf - 4.0) / 2.0) and np.allclose(obs[:, 3], (k - 1.25) / 0.75)
    # a fixed system: z = 0 is the midpoint lam_f/2; same mean work as the base env holding lam_f/2
    fixed = env.at(lam_f=3.0, k=1.0)
    w = -float(fixed.rollout(jax.random.key(1), lambda o: jnp.zeros(1))["reward"].sum())
    ref = -float(base.rollout(jax.random.key(1), lambda o: jnp.array([1.5]),
                              dataclasses.replace(base.default_params, lam_f=3.0))["reward"].sum())
    assert w == pytest.approx(ref, rel=1e-12)
    assert fixed.feature_ranges == env.feature_ranges


def test_parametric_env_validation():
    from nephlab.learn import ParametricEnv, make_env

    base = TrapEnv("translation")
    with pytest.raises(ValueError, match="'n_steps' is not a parameter that can vary"):
        ParametricEnv(base, {"n_steps": (4, 8)})
    with pytest.raises(ValueError, match="must have low <= high"):
        ParametricEnv(base, {"k": (2.0, 1.0)})
    with pytest.raises(ValueError, match="k must be > 0"):
        ParametricEnv(base, {"k": (-1.0, 1.0)})
    env = ParametricEnv(base, {"tau": (0.5, 2.0)})
    with pytest.raises(ValueError, match="not varied parameters"):
        env.at(k=1.0)
    assert make_env(env.spec()).spec() == env.spec()
