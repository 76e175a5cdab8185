"""Streaming of nephlab.md.nemd_shear through ``on_sample``: partial results are prefixes of the
final one (bit for bit), the stream does not change the run, and returning True stops it."""

import numpy as np
import pytest

from nephlab.md import nemd_shear, wca
from nephlab.md.shear import STREAM_CHUNK

_TRACES = ("times", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz", "temperature", "potential_energy", "kinetic_energy")
_RUN = dict(shear_rate=1.0, n_steps=500, dt=0.004, sample_every=5, equilibrate=50, n_bins=6, seed=3)


@pytest.fixture(scope="module")
def system():
    return wca(108, 0.8442, 1.0)  # small and cheap: WCA, N = 108


def test_partials_are_prefixes_of_the_final_result(system):
    parts = []
    final = nemd_shear(system, **_RUN, on_sample=parts.append)
    n = _RUN["n_steps"] // _RUN["sample_every"]
    sizes = [len(p.times) for p in parts]
    assert sizes == [min(k * STREAM_CHUNK, n) for k in range(1, -(-n // STREAM_CHUNK) + 1)]
    for p in parts:
        for k in _TRACES:
            a, b = np.asarray(getattr(p, k)), np.asarray(getattr(final, k))
            assert np.array_equal(a, b[: len(a)]), k  # bit for bit
        assert p.positions.shape == (108, 3) and p.shear_rate == final.shear_rate
    last = parts[-1]
    assert np.array_equal(last.profile_vx, final.profile_vx) and np.array_equal(last.positions, final.positions)
    # the stream does not change the run: same traces as an unstreamed call; the profile to rounding
    plain = nemd_shear(system, **_RUN)
    for k in _TRACES:
        assert np.array_equal(getattr(plain, k), getattr(final, k)), k
    np.testing.assert_allclose(final.profile_vx, plain.profile_vx, rtol=1e-12, atol=1e-14)
    assert final.viscosity == plain.viscosity and final.stderr == plain.stderr


def test_returning_true_stops_the_run(system):
    seen = []

    def stop_after_two(partial):
        seen.append(len(partial.times))
        return len(seen) == 2

    r = nemd_shear(system, **_RUN, on_sample=stop_after_two)
    assert seen == [STREAM_CHUNK, 2 * STREAM_CHUNK]
    assert len(r.times) == 2 * STREAM_CHUNK == len(r.pxy)
    full = nemd_shear(system, **_RUN)
    assert np.array_equal(r.pxy, full.pxy[: 2 * STREAM_CHUNK])
    assert r.times[-1] == 2 * STREAM_CHUNK * _RUN["sample_every"] * _RUN["dt"]


def test_on_sample_must_be_callable_and_needs_jax(system):
    with pytest.raises(TypeError, match="on_sample must be None or callable"):
        nemd_shear(system, **_RUN, on_sample=1)
    with pytest.raises(ValueError, match="on_sample .*backend='jax'"):
        nemd_shear(system, **_RUN, on_sample=print, backend="lammps")
