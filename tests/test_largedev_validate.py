"""The argument validators of nephlab.largedev live in nephlab._validate, value first (issue 10,
item 15): one check per kind, used by cloning, committors, TPT and the path samplers."""

import importlib

import jax.numpy as jnp
import numpy as np
import pytest

from nephlab import _validate as v
from nephlab.largedev import committor

MODULES = ("cloning", "committor", "diffusion", "sampling", "shooting", "passage", "rates", "tps")


def test_largedev_modules_define_no_private_validators():
    for mod in (importlib.import_module(f"nephlab.largedev.{m}") for m in MODULES):
        own = {n for n in vars(mod) if n in {"_rates_matrix", "_increments", "_finite", "_check_fn", "_callable",
                                              "_set_mask", "_index_mask", "_key", "_points", "_region",
                                              "_check_disjoint", "_uniform_grid"}}
        assert not own, (mod.__name__, own)


def test_value_first_and_messages():
    np.testing.assert_array_equal(v.rate_matrix([[9.0, 1.0], [2.0, 9.0]], "W"), [[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match=r"W must have non-negative off-diagonal entries, got W\[1, 0\] = -2\.0"):
        v.rate_matrix([[0.0, 1.0], [-2.0, 0.0]], "W")
    with pytest.raises(ValueError, match=r"g must have the shape of rates \(2, 2\)"):
        v.jump_increments(np.ones((3, 3)), "g", 2)
    assert v.index_mask(np.array([False, True]), "B", 2).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"A has indices outside \[0, 2\)"):
        v.index_mask([2], "A", 2)
    with pytest.raises(ValueError, match="must be uniform"):
        v.uniform_grid([0.0, 1.0, 3.0], "x")
    assert v.points(1.5, "x0").shape == (1, 1)
    with pytest.raises(TypeError, match="seed must be an int"):
        v.prng_key(1.5)


def test_region_and_traceable_callables():
    assert v.region(lambda x, y: x > y, "A", 2)[0] == "callable"
    with pytest.raises(TypeError, match="A must be a JAX-traceable callable of 2 coordinate"):
        v.region(lambda x, y: np.asarray(x) > 0, "A", 2)
    # the grid solvers take NumPy callables: no tracing there
    assert v.region(lambda X, Y: np.asarray(X) > 0, "A", 2, traced=False)[0] == "callable"
    with pytest.raises(ValueError, match="ball needs a finite centre and a finite radius > 0"):
        v.region(((0.0, 0.0), -1.0), "B", 2)
    with pytest.raises(ValueError, match="overlap"):
        v.disjoint_regions(("ball", (0.0, 0.0), 1.0), ("ball", (1.0, 0.0), 0.5))
    with pytest.raises(ValueError, match=r"drift must return shape \(2,\)"):
        v.jax_callable(lambda x: jnp.sum(x), "drift", 2, shapes=((2,),), returns="the drift")
    # committor_2d's disks and the samplers' balls are the same validator
    g = np.linspace(-1, 1, 11)
    with pytest.raises(ValueError, match="ball needs a finite centre"):
        committor.committor_2d(committor.double_well_2d, ((0.0, 0.0), 0.0), ((0.5, 0.0), 0.2), 1.0, g, g)
