"""Learned control: PPO on JAX environments and a PINN for the HJB equation (flax + optax)."""

from .hjb import CubicHJB, HJBConfig, HJBProblem, HJBResult, LinearQuadraticHJB, solve_hjb

__all__ = ["CubicHJB", "HJBConfig", "HJBProblem", "HJBResult", "LinearQuadraticHJB", "solve_hjb"]
