"""Cloning over quantum-jump trajectories (nephlab.largedev.cloning_quantum) against θ(s) from the
tilted Liouvillian (nephlab.quantum.counting_statistics), resonance fluorescence (Ω = γ = 1).

Tolerance: 4 standard errors of the mean of n_runs independent populations (statistical), plus
0.01/time for the systematic biases (time step dt = 0.01: O(dt); 300 clones: O(1/n_clones); finite
t_max), about 7 % of |θ(0.5)| = 0.152; at dt = 0.005 with 500 clones the estimate was within 0.004.
"""

from __future__ import annotations

import numpy as np
import pytest

from nephlab.largedev.cloning_quantum import quantum_cloning
from nephlab.quantum import counting_statistics, sigmam, sigmax

H, C = 0.5 * sigmax(), [sigmam()]


def test_cloning_matches_the_tilted_liouvillian():
    s = 0.5
    exact = float(counting_statistics(H, C, [1.0], s=[s]).theta[0])
    r = quantum_cloning(H, C, [1.0], s, n_clones=300, t_max=15.0, dt=0.01, n_runs=6, seed=3)
    assert r.scgf_runs.shape == (6,) and np.isfinite(r.stderr) and r.stderr > 0
    assert abs(r.scgf - exact) < 4 * r.stderr + 0.01, (r.scgf, r.stderr, exact)
    # the same seed gives the same numbers
    r2 = quantum_cloning(H, C, [1.0], s, n_clones=300, t_max=1.0, dt=0.01, n_runs=1, seed=3)
    r3 = quantum_cloning(H, C, [1.0], s, n_clones=300, t_max=1.0, dt=0.01, n_runs=1, seed=3)
    assert r2.scgf == r3.scgf


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_clones"):
        quantum_cloning(H, C, [1.0], 0.1, n_clones=1)
    with pytest.raises(ValueError, match="weights"):
        quantum_cloning(H, C, [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="dt"):
        quantum_cloning(H, C, [1.0], 0.1, t_max=1.0, dt=2.0)
    with pytest.raises(ValueError, match="burn_in_fraction"):
        quantum_cloning(H, C, [1.0], 0.1, burn_in_fraction=1.0)
    with pytest.raises(ValueError, match="Hermitian"):
        quantum_cloning(np.asarray(sigmam()), C, [1.0], 0.1)
