"""Batched Langevin integrators driven by a protocol λ(t), with Sekimoto energetics.

Dynamics (units: k_B = 1, energies in units of k_BT's unit, time in the unit of ``dt``)::

    overdamped:   γ dx = -∂ₓU(x, λ(t)) dt + sqrt(2 γ k_BT) dB(t)
    underdamped:  dx = v dt,   m dv = -∂ₓU(x, λ(t)) dt - γ v dt + sqrt(2 γ k_BT) dB(t)

Energetics (Sekimoto), per trajectory, on the grid ``t_n = t0 + n dt``, n = 0..n_steps:

- work ``W = ∫ ∂_λU dλ``: the energy change at fixed position when λ moves;
- heat ``Q`` = heat dissipated *into the bath* (Q > 0 when the system gives energy to the bath);
- first law ``ΔE = W - Q`` (E = U overdamped, E = U + m v²/2 underdamped);
- medium entropy ``ΔS_m = Q / k_BT`` (units of k_B); total entropy
  ``ΔS_tot = ΔS_m + Δs_sys`` with ``s_sys = -ln p(x, t)`` is returned only with
  ``system_entropy="gaussian"`` (p fitted as a Gaussian to the ensemble at t0 and at the end: exact
  in the many-trajectory limit for linear forces and Gaussian initial states, an approximation
  otherwise).

Discretisations (λ moves first, then the particle relaxes at the new λ):

- ``"euler_maruyama"``: ``W_n = U(x_n, λ_{n+1}) - U(x_n, λ_n)``, then one EM step with the force at
  ``(x_n, λ_{n+1})``; weak order 1.
- ``"heun"`` (stochastic Heun, Stratonovich, weak order 2 for additive noise): force averaged over
  ``(x_n, λ_n)`` and the predictor ``(x̃, λ_{n+1})``; Stratonovich-consistent (trapezoidal) work
  ``W_n = ½[U(x_n, λ_{n+1}) - U(x_n, λ_n)] + ½[U(x_{n+1}, λ_{n+1}) - U(x_{n+1}, λ_n)]``.
- ``"baoab"`` (Leimkuhler–Matthews): ``W_n = U(x_n, λ_{n+1}) - U(x_n, λ_n)``, then B A O A B at
  ``λ_{n+1}``; heat = kinetic energy lost in the O (thermostat) step; the B/A steps do not conserve
  energy exactly, and the remainder ``ΔE - (W - Q)`` is reported as ``shadow_work`` (O(dt²)).

For overdamped methods ``Q := W - ΔU`` so the first law holds to rounding.

Batching: leading axes of the protocol array, ``gamma``, ``kBT``, ``mass`` and ``x0`` broadcast to a
batch shape; every batch element has ``n_traj`` trajectories. The whole ensemble is one jitted
call (``vmap`` over the batch, batched arrays over trajectories, ``lax.scan`` over time). ``U`` is a
static argument: pass the same function object again to reuse the compiled code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config  # noqa: F401  (float64)
from .._result import ResultBase, attr, coord
from .._validate import function, integer, one_of, positive_array, prng_key, real_array

__all__ = ["LangevinResult", "overdamped_langevin", "underdamped_langevin"]

_OVERDAMPED = ("euler_maruyama", "heun")
_UNDERDAMPED = ("baoab",)


# per-trajectory arrays: (name, trailing dims after the batch dims, units, long name); "space"
# stands for the axes of one position (x_shape), "time" for the saved times
_PER_TRAJ = (
    ("x", ("traj", "time", "space"), "length", "position at the saved times"),
    ("v", ("traj", "time", "space"), "length/time", "velocity at the saved times"),
    ("work_t", ("traj", "time"), "energy", "accumulated work at the saved times"),
    ("x_initial", ("traj", "space"), "length", "initial position"),
    ("x_final", ("traj", "space"), "length", "final position"),
    ("v_initial", ("traj", "space"), "length/time", "initial velocity"),
    ("v_final", ("traj", "space"), "length/time", "final velocity"),
    ("work", ("traj",), "energy", "Sekimoto work W"),
    ("heat", ("traj",), "energy", "heat Q dissipated into the bath"),
    ("delta_energy", ("traj",), "energy", "energy change ΔE = W - Q (+ shadow work)"),
    ("entropy_medium", ("traj",), "k_B", "medium entropy production Q/kBT"),
    ("entropy_total", ("traj",), "k_B", "total entropy production"),
    ("shadow_work", ("traj",), "energy", "BAOAB shadow work ΔE - (W - Q)"),
    ("kBT", (), "energy", "temperature kBT"),
)


@dataclass(frozen=True, repr=False)
class LangevinResult(ResultBase):
    """An ensemble of Langevin trajectories and their energetics.

    Shapes use ``B`` = batch shape, ``N`` = n_traj, ``S`` = number of saved times, ``X`` = x_shape.

    Attributes:
        times: (S,) saved times (time units); ``[t0, t_end]`` when trajectories are not stored.
        x: B + (N, S) + X positions at ``times``, or None (``save_every=None``).
        v: same for velocities (underdamped only), or None.
        work_t: B + (N, S) accumulated work at ``times`` (energy), or None.
        x_initial, x_final: B + (N,) + X positions at t0 and at the end.
        v_initial, v_final: B + (N,) + X velocities (underdamped), else None.
        work: B + (N,) Sekimoto work W = ∫ ∂_λU dλ (energy).
        heat: B + (N,) heat Q dissipated into the bath (energy).
        delta_energy: B + (N,) ΔE (ΔU overdamped, ΔU + ΔKE underdamped).
        entropy_medium: B + (N,) ΔS_m = Q/k_BT (units of k_B).
        entropy_total: B + (N,) ΔS_tot = ΔS_m + Δs_sys (``system_entropy="gaussian"``), else None.
        shadow_work: B + (N,) ΔE - (W - Q) of BAOAB (underdamped), else None.
        kBT: B-shaped temperatures (energy).
        method, dt, n_steps, batch_shape: what ran.
        stats: ``wall_time`` (s, compile included on a first call).

    ``to_xarray()`` names the axes ``batch_0, batch_1, ...`` (the batch), ``traj``, ``time``
    (its coordinate holds ``times``) and ``space_0, ...`` (x_shape); arrays that are None are left out;
    ``method``, ``dt``, ``n_steps``, ``batch_shape`` and ``stats`` are attributes.

    Example:
        >>> import jax.numpy as jnp
        >>> U = lambda x, lam: 0.5 * (x - lam) ** 2
        >>> r = overdamped_langevin(U, "equilibrium", jnp.linspace(0, 1, 11), dt=0.1, n_traj=4, seed=0,
        ...                         kBT=jnp.array([1.0, 2.0]), save_every=5)
        >>> ds = r.to_xarray()
        >>> ds.work.dims, ds.x.dims, ds.work.attrs["units"]
        (('batch_0', 'traj'), ('batch_0', 'traj', 'time'), 'energy')
    """

    times: np.ndarray = coord("time", units="time", long_name="saved times", name="time")
    x: Any
    v: Any
    work_t: Any
    x_initial: Any
    x_final: Any
    v_initial: Any
    v_final: Any
    work: Any
    heat: Any
    delta_energy: Any
    entropy_medium: Any
    entropy_total: Any
    shadow_work: Any
    kBT: Any
    method: str = attr()
    dt: float = attr()
    n_steps: int = attr()
    batch_shape: tuple = attr(default=())
    stats: dict = attr(default_factory=dict)

    def _xarray_extra(self, ds):
        batch = tuple(f"batch_{i}" for i in range(len(self.batch_shape)))
        x_ndim = np.ndim(self.x_final) - len(self.batch_shape) - 1
        space = tuple(f"space_{i}" for i in range(x_ndim))
        for name, trailing, units, long_name in _PER_TRAJ:
            value = getattr(self, name)
            if value is None:
                continue
            dims = batch + sum(((d,) if d != "space" else space for d in trailing), ())
            ds[name] = (dims, np.asarray(value), {"units": units, "long_name": long_name})
        return ds

    def __str__(self) -> str:
        n = self.work.shape[-1]
        return (
            f"LangevinResult(method={self.method!r}, n_traj={n}, n_steps={self.n_steps}, dt={self.dt:g}"
            + (f", batch={self.batch_shape}" if self.batch_shape else "")
            + f", trajectories {'stored' if self.x is not None else 'not stored'}"
            + f", <W>={float(jnp.mean(self.work)):.4g}, <Q>={float(jnp.mean(self.heat)):.4g})"
        )


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------


def _protocol_grid(protocol: Any, n_steps: int | None, dt: float, t0: float, lam_ndim: int) -> tuple[np.ndarray, int]:
    """Return λ on the grid, shape batch + (n_steps + 1,) + lam_shape, and n_steps."""
    if callable(protocol):
        if n_steps is None:
            raise TypeError("n_steps is required when protocol is a callable λ(t)")
        ts = t0 + dt * np.arange(n_steps + 1)
        try:
            lam = np.asarray(jax.vmap(protocol)(jnp.asarray(ts)))
        except Exception:
            lam = np.asarray([np.asarray(protocol(float(t))) for t in ts])
        lam = real_array(lam, "protocol(t)")
        if lam.shape[:1] != (n_steps + 1,):
            raise ValueError(f"protocol(t) must return one λ per time, got values of shape {lam.shape}")
        return lam, n_steps
    lam = real_array(protocol, "protocol")
    if lam.ndim < 1 + lam_ndim:
        raise ValueError(
            f"protocol must be an array with a time axis of length n_steps + 1 (then {lam_ndim} λ axes), "
            f"got shape {lam.shape}; pass a callable λ(t) for a constant or analytic protocol"
        )
    n_t = lam.shape[lam.ndim - 1 - lam_ndim]
    if n_steps is None:
        if n_t < 2:
            raise ValueError(f"protocol needs at least 2 time points, got shape {lam.shape}")
        n_steps = n_t - 1
    elif n_t != n_steps + 1:
        raise ValueError(
            f"protocol has {n_t} time points (shape {lam.shape}) but the grid t0 + dt*arange(n_steps + 1) "
            f"has n_steps + 1 = {n_steps + 1}"
        )
    return lam, n_steps


# ---------------------------------------------------------------------------------------------
# the jitted core
# ---------------------------------------------------------------------------------------------


def _per_traj(U: Callable) -> tuple[Callable, Callable]:
    u = jax.vmap(U, in_axes=(0, None))
    vg = jax.vmap(jax.value_and_grad(U, argnums=0), in_axes=(0, None))
    return u, vg


def _sum_x(a: jax.Array, n_x: int) -> jax.Array:
    return a if n_x == 0 else jnp.sum(a, axis=tuple(range(1, 1 + n_x)))


_SQRT3 = float(np.sqrt(3.0))
# three-point law: +√3 when u < 2^32/6, -√3 when 2^32/6 <= u < 2^32/3, else 0 (u uniform uint32)
_T1, _T2 = np.uint32(2**32 // 6), np.uint32(2**32 // 3)


def _noise_fn(noise: str, key: jax.Array, shape: tuple, dtype) -> tuple[Callable, jax.Array]:
    """``(draw, word0)``: ``draw(n, word) -> (xi, word)`` gives step n's standardised noise.

    ``"rademacher"`` takes one bit per step from a 32-bit word per trajectory, drawn every 32
    steps and kept in the loop carry, so the generator runs once per 32 steps.
    """
    if noise == "gaussian":
        return (lambda n, word: (jax.random.normal(jax.random.fold_in(key, n), shape, dtype), word)), jnp.zeros(())
    if noise == "three_point":
        def draw3(n, word):
            u = jax.random.bits(jax.random.fold_in(key, n), shape, jnp.uint32)
            xi = jnp.where(u < _T1, _SQRT3, jnp.where(u < _T2, -_SQRT3, 0.0)).astype(dtype)
            return xi, word
        return draw3, jnp.zeros(())

    def draw2(n, word):
        word = jax.lax.cond(n % 32 == 0, lambda: jax.random.bits(jax.random.fold_in(key, n // 32), shape, jnp.uint32),
                            lambda: word)
        bit = (word >> (n % 32).astype(jnp.uint32)) & jnp.uint32(1)
        return bit.astype(dtype) * 2.0 - 1.0, word

    return draw2, jnp.zeros(shape, jnp.uint32)


@partial(jax.jit, static_argnames=("U", "method", "n_steps", "save_every", "n_x", "noise"))
def _run_batch(U, method, n_steps, save_every, n_x, keys, x0, v0, lam, gamma, kBT, mass, dt, noise="gaussian"):
    """vmapped over the flattened batch axis (leading) of every array argument except dt."""

    def one(key, x0, v0, lam, gamma, kBT, mass):
        u, vg = _per_traj(U)
        shape = x0.shape
        sig_od = jnp.sqrt(2.0 * kBT * dt / gamma)
        c1 = jnp.exp(-gamma * dt / mass)
        sig_v = jnp.sqrt((1.0 - c1**2) * kBT / mass)
        e0 = u(x0, lam[0])
        if method in _OVERDAMPED:
            # energies and forces at (x_n, λ_n) are recomputed each step rather than carried:
            # fewer arrays in the loop carry make the memory-bound step ~2x faster on CPU
            carry0 = (x0, jnp.zeros(shape[:1]))
        else:
            carry0 = (x0, v0, jnp.zeros(shape[:1]), jnp.zeros(shape[:1]))

        draw, word0 = _noise_fn(noise, key, shape, x0.dtype)

        def step(carry, n):
            state, word = carry
            xi, word = draw(n, word)
            return (_step(state, n, xi), word)

        def _step(carry, n, xi):
            l0, l1 = lam[n], lam[n + 1]
            if method == "euler_maruyama":
                x, w = carry
                e01, g = vg(x, l1)
                w = w + (e01 - u(x, l0))
                x = x - g * (dt / gamma) + sig_od * xi
                return (x, w)
            if method == "heun":
                x, w = carry
                e, g = vg(x, l0)
                xt = x - g * (dt / gamma) + sig_od * xi
                _, gt = vg(xt, l1)
                x1 = x - (g + gt) * (0.5 * dt / gamma) + sig_od * xi
                w = w + 0.5 * ((u(x, l1) - e) + (u(x1, l1) - u(x1, l0)))
                return (x1, w)
            x, v, w, q = carry  # BAOAB
            e01, g = vg(x, l1)
            w = w + (e01 - u(x, l0))
            v = v - g * (0.5 * dt / mass)
            x = x + v * (0.5 * dt)
            ke = _sum_x(v * v, n_x)
            v = c1 * v + sig_v * xi
            q = q - 0.5 * mass * (_sum_x(v * v, n_x) - ke)
            x = x + v * (0.5 * dt)
            _, g = vg(x, l1)
            v = v - g * (0.5 * dt / mass)
            return (x, v, w, q)

        def block(carry, b):
            carry = jax.lax.fori_loop(b * save_every, (b + 1) * save_every, lambda n, c: step(c, n), carry)
            st = carry[0]
            return carry, (st[0], st[1] if method == "baoab" else st[0], st[2] if method == "baoab" else st[1])

        if save_every is None:
            carry, _ = jax.lax.fori_loop(0, n_steps, lambda n, c: step(c, n), (carry0, word0))
            saved = None
        else:
            (carry, _), saved = jax.lax.scan(block, (carry0, word0), jnp.arange(n_steps // save_every))
        xf = carry[0]
        ef = u(xf, lam[-1])
        if method == "baoab":
            vf, w, q = carry[1], carry[2], carry[3]
            de = ef - e0 + 0.5 * mass * (_sum_x(vf * vf, n_x) - _sum_x(v0 * v0, n_x))
            shadow = de - (w - q)
        else:
            vf, w = None, carry[1]
            de = ef - e0
            q = w - de
            shadow = None
        out = dict(x_final=xf, v_final=vf, work=w, heat=q, delta_energy=de, shadow_work=shadow)
        if saved is not None:
            xs, vs, ws = saved
            out["x"] = jnp.moveaxis(jnp.concatenate([x0[None], xs]), 0, 1)
            out["work_t"] = jnp.concatenate([jnp.zeros((1,) + shape[:1]), ws]).T
            if method == "baoab":
                out["v"] = jnp.moveaxis(jnp.concatenate([v0[None], vs]), 0, 1)
        return out

    return jax.vmap(one)(keys, x0, v0, lam, gamma, kBT, mass)


# ---------------------------------------------------------------------------------------------
# initial conditions
# ---------------------------------------------------------------------------------------------


def _harmonic_equilibrium(U: Callable, lam0: np.ndarray, kBT: np.ndarray, x_shape: tuple, n_traj: int, keys) -> np.ndarray:
    """Exact Boltzmann samples of a quadratic U(·, λ0) per batch element: (nb, n_traj) + x_shape.

    ``keys[b]`` is the key of batch element b."""
    d = int(np.prod(x_shape)) if x_shape else 1

    def flat_u(z, lam):
        return U(z.reshape(x_shape), lam)

    def moments(lam):
        z0 = jnp.zeros(d)
        return flat_u(z0, lam), jax.grad(flat_u)(z0, lam), jax.hessian(flat_u)(z0, lam)

    u0, g, H = (np.asarray(a) for a in jax.vmap(moments)(jnp.asarray(lam0)))
    out = []
    for b in range(lam0.shape[0]):
        Hb = 0.5 * (H[b] + H[b].T)
        evals = np.linalg.eigvalsh(Hb)
        if not np.all(np.isfinite(Hb)) or evals.min() <= 0:
            raise ValueError(
                f"x0='equilibrium' needs a confining harmonic U(x, λ(t0)); its Hessian has eigenvalues {evals}"
            )
        xstar = -np.linalg.solve(Hb, g[b])
        # quadratic check at ±3 thermal widths along each axis
        width = 3.0 * np.sqrt(kBT[b] / evals.min())
        pts = np.concatenate([np.eye(d), -np.eye(d), np.ones((1, d)) / np.sqrt(d)]) * width
        quad = u0[b] + pts @ g[b] + 0.5 * np.einsum("pi,ij,pj->p", pts, Hb, pts)
        actual = np.asarray(jax.vmap(flat_u, in_axes=(0, None))(jnp.asarray(pts), jnp.asarray(lam0[b])))
        scale = np.abs(quad - u0[b] - pts @ g[b]).max() + abs(u0[b]) + 1.0
        if not np.allclose(actual, quad, rtol=0, atol=1e-8 * scale):
            raise ValueError(
                "x0='equilibrium' is exact only for a harmonic (quadratic in x) U(x, λ(t0)); this U is not "
                "quadratic: pass equilibrium samples as an array x0 instead"
            )
        L = np.linalg.cholesky(kBT[b] * np.linalg.inv(Hb))
        xi = np.asarray(jax.random.normal(keys[b], (n_traj, d)))
        out.append((xstar + xi @ L.T).reshape((n_traj,) + x_shape))
    return np.stack(out)


def _gaussian_logpdf(samples: np.ndarray) -> np.ndarray:
    """ln p(x) of each sample under the Gaussian fitted to the ensemble: (nb, N, d) -> (nb, N)."""
    mu = samples.mean(axis=1, keepdims=True)
    c = samples - mu
    cov = np.einsum("bni,bnj->bij", c, c) / (samples.shape[1] - 1)
    out = np.empty(samples.shape[:2])
    for b in range(samples.shape[0]):
        sign, logdet = np.linalg.slogdet(cov[b])
        if sign <= 0:
            raise ValueError("system_entropy='gaussian': the ensemble covariance is singular")
        sol = np.linalg.solve(cov[b], c[b].T).T
        out[b] = -0.5 * np.sum(c[b] * sol, axis=1) - 0.5 * logdet - 0.5 * c.shape[2] * np.log(2 * np.pi)
    return out


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


_NOISES = ("gaussian", "rademacher", "three_point")


def _check_noise(noise: Any, method: str) -> str:
    one_of(noise, "noise", _NOISES)
    if noise == "rademacher" and method != "euler_maruyama":
        raise ValueError(f"noise='rademacher' (two-point, weak order 1) would lower the weak order of "
                         f"method={method!r}; use noise='three_point' or 'gaussian' with it")
    return noise


def _simulate(U, x0, protocol, *, dt, n_steps, seed, n_traj, gamma, kBT, mass, v0, method, save_every, t0,
              lam_ndim, x_shape, system_entropy, noise="gaussian") -> LangevinResult:
    t_start = time.perf_counter()
    noise = _check_noise(noise, method)
    function(U, "U", "U(x, lam) returning a scalar energy")
    # a key array holds one key per batch element (checked against the batch shape below)
    per_element = (isinstance(seed, jax.Array) and jnp.issubdtype(seed.dtype, jax.dtypes.prng_key)
                   and seed.shape != ())
    key = seed if per_element else prng_key(seed, "seed")
    dt_a = positive_array(dt, "dt")
    if dt_a.ndim != 0:
        raise ValueError(f"dt must be a scalar, got shape {dt_a.shape}")
    dt_f = float(dt_a)
    t0_f = float(real_array(t0, "t0"))
    if n_steps is not None:
        n_steps = integer(n_steps, "n_steps")
    if n_traj is not None:
        n_traj = integer(n_traj, "n_traj")
    if save_every is not None:
        save_every = integer(save_every, "save_every")
    lam_ndim = integer(lam_ndim, "lam_ndim", minimum=0)
    try:
        x_shape = tuple(int(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"x_shape must be a tuple of ints, got {x_shape!r}") from None
    system_entropy = one_of("none" if system_entropy is None else system_entropy, "system_entropy", ("none", "gaussian"))
    gamma_a = positive_array(gamma, "gamma")
    kBT_a = positive_array(kBT, "kBT")
    mass_a = positive_array(mass, "mass")

    lam, n_steps = _protocol_grid(protocol, n_steps, dt_f, t0_f, lam_ndim)
    if callable(protocol):
        lam_shape = lam.shape[1:]
        lam_batch: tuple = ()
    else:
        lam_shape = lam.shape[lam.ndim - lam_ndim:]
        lam_batch = lam.shape[: lam.ndim - 1 - lam_ndim]
    if save_every is not None and n_steps % save_every:
        raise ValueError(f"save_every={save_every} must divide n_steps={n_steps}")

    nx = len(x_shape)
    x0_is_eq = isinstance(x0, str)
    if x0_is_eq and x0 != "equilibrium":
        raise ValueError(f"x0 must be an array or 'equilibrium', got {x0!r}")
    x0_batch: tuple = ()
    if not x0_is_eq:
        x0_a = real_array(x0, "x0")
        if x0_a.ndim < nx or x0_a.shape[x0_a.ndim - nx:] != x_shape:
            raise ValueError(f"x0 must have shape batch + (n_traj,) + x_shape = ... + {x_shape}, got {x0_a.shape}")
        if x0_a.ndim == nx:
            x0_a = x0_a[None]
        nt_x0 = x0_a.shape[x0_a.ndim - nx - 1]
        x0_batch = x0_a.shape[: x0_a.ndim - nx - 1]
        if n_traj is None:
            n_traj = nt_x0
        elif nt_x0 not in (1, n_traj):
            raise ValueError(f"x0 has {nt_x0} trajectories (shape {x0_a.shape}) but n_traj={n_traj}")
    elif n_traj is None:
        raise TypeError("n_traj is required with x0='equilibrium'")
    if n_traj is None:  # pragma: no cover
        raise TypeError("n_traj is required")

    shapes = {"protocol": lam_batch, "gamma": gamma_a.shape, "kBT": kBT_a.shape, "mass": mass_a.shape, "x0": x0_batch}
    try:
        batch = np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(f"batch shapes do not broadcast: {shapes}") from None
    nb = int(np.prod(batch)) if batch else 1

    lam_b = np.broadcast_to(lam, batch + (n_steps + 1,) + lam_shape).reshape((nb, n_steps + 1) + lam_shape)
    g_b = np.broadcast_to(gamma_a, batch).reshape(nb)
    k_b = np.broadcast_to(kBT_a, batch).reshape(nb)
    m_b = np.broadcast_to(mass_a, batch).reshape(nb)
    if per_element:
        if key.shape != batch:
            raise ValueError(f"seed: a key array must have the batch shape {batch} (one key per batch element), "
                             f"got shape {key.shape}")
        # element b draws exactly what a single call with seed=key[b] draws
        sub = [jax.random.split(k, 3) for k in key.reshape(nb)]
        init_keys = [jax.random.fold_in(k[0], 0) for k in sub]
        run_keys = jnp.stack([jax.random.split(k[1], 1)[0] for k in sub])
        v_keys = [k[2] for k in sub]
    else:
        k_init, k_run, k_v = jax.random.split(key, 3)
        init_keys = [jax.random.fold_in(k_init, b) for b in range(nb)]
        run_keys = jax.random.split(k_run, nb)
    if x0_is_eq:
        x0_b = _harmonic_equilibrium(U, lam_b[:, 0], k_b, x_shape, n_traj, init_keys)
    else:
        x0_b = np.broadcast_to(x0_a, batch + (n_traj,) + x_shape).reshape((nb, n_traj) + x_shape)

    underdamped = method in _UNDERDAMPED
    if underdamped:
        if isinstance(v0, str):
            if v0 != "equilibrium":
                raise ValueError(f"v0 must be an array or 'equilibrium', got {v0!r}")
            if per_element:
                xi = np.stack([np.asarray(jax.random.normal(k, (1, n_traj) + x_shape))[0] for k in v_keys])
            else:
                xi = np.asarray(jax.random.normal(k_v, (nb, n_traj) + x_shape))
            v0_b = xi * np.sqrt(k_b / m_b).reshape((nb,) + (1,) * (1 + nx))
        else:
            v0_a = real_array(v0, "v0")
            try:
                v0_b = np.broadcast_to(v0_a, batch + (n_traj,) + x_shape).reshape((nb, n_traj) + x_shape)
            except ValueError:
                raise ValueError(f"v0 of shape {v0_a.shape} does not broadcast to {batch + (n_traj,) + x_shape}") from None
    else:
        v0_b = np.zeros((nb,))  # unused placeholder

    # evaluate U once eagerly so that a wrong signature fails here, not deep inside the scan
    try:
        e = jax.eval_shape(U, jax.ShapeDtypeStruct(x_shape, jnp.float64), jax.ShapeDtypeStruct(lam_shape, jnp.float64))
    except Exception as err:
        raise TypeError(f"U(x, lam) failed for x of shape {x_shape} and lam of shape {lam_shape}: {err}") from None
    if getattr(e, "shape", None) != ():
        raise TypeError(f"U(x, lam) must return a scalar energy, got shape {getattr(e, 'shape', None)}")

    out = _run_batch(U, method, n_steps, save_every, nx, run_keys, jnp.asarray(x0_b), jnp.asarray(v0_b),
                     jnp.asarray(lam_b), jnp.asarray(g_b), jnp.asarray(k_b), jnp.asarray(m_b), dt_f, noise=noise)
    out = jax.block_until_ready(out)

    def rs(a, tail):
        return None if a is None else a.reshape(batch + tail)

    N = (n_traj,)
    work, heat = rs(out["work"], N), rs(out["heat"], N)
    kBT_full = jnp.asarray(np.broadcast_to(kBT_a, batch))
    s_m = heat / kBT_full[..., None]
    s_tot = None
    if system_entropy == "gaussian":
        if underdamped:
            ini = np.concatenate([x0_b.reshape(nb, n_traj, -1), v0_b.reshape(nb, n_traj, -1)], axis=-1)
            fin = np.concatenate([np.asarray(out["x_final"]).reshape(nb, n_traj, -1),
                                  np.asarray(out["v_final"]).reshape(nb, n_traj, -1)], axis=-1)
        else:
            ini = x0_b.reshape(nb, n_traj, -1)
            fin = np.asarray(out["x_final"]).reshape(nb, n_traj, -1)
        ds_sys = _gaussian_logpdf(ini) - _gaussian_logpdf(fin)
        s_tot = s_m + jnp.asarray(ds_sys.reshape(batch + N))
    if save_every is None:
        times = np.array([t0_f, t0_f + n_steps * dt_f])
    else:
        times = t0_f + dt_f * np.arange(0, n_steps + 1, save_every)
    S = (len(times),)
    return LangevinResult(
        times=times,
        x=rs(out.get("x"), N + S + x_shape),
        v=rs(out.get("v"), N + S + x_shape),
        work_t=rs(out.get("work_t"), N + S),
        x_initial=jnp.asarray(x0_b).reshape(batch + N + x_shape),
        x_final=rs(out["x_final"], N + x_shape),
        v_initial=jnp.asarray(v0_b).reshape(batch + N + x_shape) if underdamped else None,
        v_final=rs(out["v_final"], N + x_shape),
        work=work,
        heat=heat,
        delta_energy=rs(out["delta_energy"], N),
        entropy_medium=s_m,
        entropy_total=s_tot,
        shadow_work=rs(out["shadow_work"], N),
        kBT=kBT_full,
        method=method,
        dt=dt_f,
        n_steps=n_steps,
        batch_shape=tuple(batch),
        stats={"wall_time": time.perf_counter() - t_start, "noise": noise},
    )


def overdamped_langevin(
    U: Callable[[jax.Array, jax.Array], jax.Array],
    x0: Any,
    protocol: Any,
    *,
    dt: float,
    seed: Any,
    n_steps: int | None = None,
    n_traj: int | None = None,
    gamma: Any = 1.0,
    kBT: Any = 1.0,
    method: str = "euler_maruyama",
    save_every: int | None = None,
    t0: float = 0.0,
    lam_ndim: int = 0,
    x_shape: tuple = (),
    system_entropy: str = "none",
    noise: str = "gaussian",
) -> LangevinResult:
    """Overdamped Langevin ensemble ``γ dx = -∂ₓU(x, λ(t)) dt + sqrt(2 γ k_BT) dB`` with Sekimoto energetics.

    Args:
        U: potential ``U(x, lam) -> scalar`` (energy) for ONE particle; x has shape ``x_shape``,
            lam has shape ``lam_shape``. Any JAX function; the force is ``-jax.grad(U)``.
        x0: initial positions, shape batch + (n_traj,) + x_shape (broadcastable; a single
            position of shape x_shape is repeated), or ``"equilibrium"``: exact Boltzmann samples
            of U(·, λ(t0)) at k_BT, valid only for U quadratic in x (checked; ValueError otherwise).
        protocol: λ on the grid ``t0 + dt*arange(n_steps+1)``: an array of shape
            batch + (n_steps+1,) + lam_shape (``lam_ndim = len(lam_shape)``), or a callable
            ``λ(t)`` (evaluated on the grid).
        dt: time step (time units), > 0.
        seed: int or ``jax.random`` key; required. A key array of the batch shape gives one key per
            batch element: element ``i`` then draws exactly what a single call with ``seed=keys[i]``
            and that element's parameters draws (batch == loop).
        n_steps: number of steps; inferred from an array protocol when omitted.
        n_traj: trajectories per batch element; inferred from an array x0 when omitted.
        gamma: friction γ > 0 (energy·time/length²), scalar or batch-shaped.
        kBT: temperature k_BT > 0 (energy), scalar or batch-shaped.
        method: ``"euler_maruyama"`` (Itô, weak order 1) or ``"heun"`` (Stratonovich, weak order 2).
        save_every: store x and the running work every this many steps (must divide n_steps);
            None stores nothing but the initial and final states (the memory-light default).
        t0: initial time.
        lam_ndim: number of axes of one λ value (0 for a scalar protocol).
        x_shape: shape of one particle's position (() for 1D, (d,) for d dimensions).
        system_entropy: ``"none"`` or ``"gaussian"`` (adds ``entropy_total``; see module doc).
        noise: law of the standardised increments ξ_n (the step's noise is ``sqrt(2 k_BT dt/γ) ξ_n``):
            ``"gaussian"`` (default; strong and weak schemes as stated), ``"rademacher"`` (ξ = ±1
            with probability 1/2: the simplified weak Euler scheme, same weak order 1 as
            Euler–Maruyama for averages and distributions such as work statistics, but not
            pathwise; only with ``"euler_maruyama"``; ~10x faster, since one random 32-bit word
            serves 32 steps), or ``"three_point"`` (ξ = ±√3 with probability 1/6 each, 0 with 2/3:
            moments match the Gaussian's to fifth order, so ``"heun"`` keeps weak order 2).

    Returns:
        :class:`LangevinResult`; ``work``/``heat`` have shape batch + (n_traj,).

    Example:
        >>> import jax.numpy as jnp
        >>> U = lambda x, lam: 0.5 * (x - lam) ** 2
        >>> r = overdamped_langevin(U, "equilibrium", jnp.linspace(0, 1, 101), dt=0.01, n_traj=1000, seed=0)
        >>> r.work.shape, bool(jnp.allclose(r.delta_energy, r.work - r.heat))
        ((1000,), True)
    """
    one_of(method, "method (overdamped dynamics)", _OVERDAMPED)
    return _simulate(U, x0, protocol, dt=dt, n_steps=n_steps, seed=seed, n_traj=n_traj, gamma=gamma, kBT=kBT,
                     mass=1.0, v0=None, method=method, save_every=save_every, t0=t0, lam_ndim=lam_ndim,
                     x_shape=x_shape, system_entropy=system_entropy, noise=noise)


def underdamped_langevin(
    U: Callable[[jax.Array, jax.Array], jax.Array],
    x0: Any,
    protocol: Any,
    *,
    dt: float,
    seed: Any,
    n_steps: int | None = None,
    n_traj: int | None = None,
    gamma: Any = 1.0,
    kBT: Any = 1.0,
    mass: Any = 1.0,
    v0: Any = "equilibrium",
    method: str = "baoab",
    save_every: int | None = None,
    t0: float = 0.0,
    lam_ndim: int = 0,
    x_shape: tuple = (),
    system_entropy: str = "none",
    noise: str = "gaussian",
) -> LangevinResult:
    """Underdamped Langevin ensemble ``m dv = -∂ₓU dt - γ v dt + sqrt(2 γ k_BT) dB`` (BAOAB).

    Arguments as :func:`overdamped_langevin` (``noise``: ``"gaussian"`` or ``"three_point"``), plus ``mass`` m > 0 (scalar or batch-shaped) and
    ``v0``: initial velocities batch + (n_traj,) + x_shape, or ``"equilibrium"`` (Maxwell,
    variance k_BT/m). γ is the friction coefficient (force -γ v; relaxation rate γ/m). Heat is the
    kinetic energy the O step gives to the bath; ``shadow_work = ΔE - (W - Q)`` is the
    discretisation energy error of the B/A steps.

    Example:
        >>> import jax.numpy as jnp
        >>> U = lambda x, lam: 0.5 * lam * x ** 2
        >>> r = underdamped_langevin(U, "equilibrium", lambda t: 1.0, dt=0.05, n_steps=100, n_traj=500, seed=1)
        >>> r.v_final.shape, r.shadow_work.shape
        ((500,), (500,))
    """
    one_of(method, "method (underdamped dynamics)", _UNDERDAMPED)
    return _simulate(U, x0, protocol, dt=dt, n_steps=n_steps, seed=seed, n_traj=n_traj, gamma=gamma, kBT=kBT,
                     mass=mass, v0=v0, method=method, save_every=save_every, t0=t0, lam_ndim=lam_ndim,
                     x_shape=x_shape, system_entropy=system_entropy, noise=noise)
