"""Streaming ``mesolve(..., on_save=callback)``: each saved time reaches the caller as it is computed.

The solve runs in compiled chunks that continue the integrator state exactly (no restart, no
clipping), so the streamed states must equal those of one call to 1e-12, for every registered
method (the list comes from the registry, tests/method_cases.py), unbatched and batched, with a
time-dependent H (and time-dependent collapse operators) where the method takes them. Chunk sizes
are chosen so that the last chunk is padded and, for the adaptive methods, steps span chunk ends.
Also: stopping (callback returns True, or raises), bad input, compile-once, and bounded memory
with ``store_states=False`` (measured in a fresh process, like tests/test_mesolve_memory.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from nephlab import mesolve
from nephlab.quantum import _engine, destroy, sigmam, sigmax, sigmaz
from nephlab.quantum.methods import METHODS, Method
from method_cases import method_params, options_for

SZ, SX, SM = (np.asarray(o) for o in (sigmaz(), sigmax(), sigmam()))
A3 = np.asarray(destroy(3))
N3 = A3.T @ A3
KET = np.array([0.6, 0.8j, 0.0])
RHO = np.outer(KET, KET.conj())
TOL = 1e-12  # streamed vs one call; in practice they agree bit for bit
MAX_DIFF: dict[str, float] = {}  # largest difference seen per method (printed at the end with -s)


def _drive(t, args):
    return 0.4 * jnp.cos(1.3 * t)


def _decay(t, args):
    return jnp.sqrt(0.3) * jnp.exp(-0.2 * t)


def problem(name: str, batched: bool):
    """A 3-level problem: H time dependent when the method takes it (c_ops too), batched over H."""
    cls = METHODS[name]
    H0 = N3 + 0.1 * N3 @ N3
    if batched:
        H0 = np.stack([H0 * (1.0 + 0.2 * k) for k in range(3)])
    H = [H0, [A3 + A3.T, _drive]] if cls.time_dependent_h else H0 + 0.3 * (A3 + A3.T)
    c_ops = [np.sqrt(0.1) * N3, [A3, _decay]] if cls.time_dependent_c_ops else [np.sqrt(0.3) * A3, np.sqrt(0.1) * N3]
    # batched: a non-uniform tlist (expm: one propagator per interval); unbatched: uniform
    tl = np.linspace(0.0, 3.0, 14) ** 1.2 if batched else np.linspace(0.0, 3.0, 14)
    kw = dict(e_ops={"n": N3, "a": A3}, method=name, **options_for(name, dt=0.01, rtol=1e-8, atol=1e-10))
    return (H, RHO, tl, c_ops), kw


def record():
    seen = []

    def on_save(index, t, state, expect):
        seen.append((index, t, np.array(state), {k: np.array(v) for k, v in expect.items()}))

    return seen, on_save


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
@pytest.mark.parametrize("name", method_params())
def test_streamed_states_equal_one_call(name, batched):
    args, kw = problem(name, batched)
    ref = mesolve(*args, **kw)
    seen, on_save = record()
    chunk = 4 if batched else 3  # 13 intervals: the last chunk is padded
    res = mesolve(*args, on_save=on_save, chunk=chunk, **kw)
    T = len(args[2])
    assert [s[0] for s in seen] == list(range(T))
    np.testing.assert_array_equal([s[1] for s in seen], args[2])
    streamed = np.stack([s[2] for s in seen], axis=-3)
    diff = max(np.abs(streamed - ref.states).max(), np.abs(res.states - ref.states).max(),
               np.abs(res.final_state - ref.final_state).max())
    MAX_DIFF[f"{name}-{'batched' if batched else 'single'}"] = float(diff)
    assert diff <= TOL, f"{name}: streamed states differ from one call by {diff:.3g}"
    for key in ("n", "a"):
        np.testing.assert_allclose(np.stack([s[3][key] for s in seen], axis=-1), ref.expect[key], rtol=0, atol=TOL)
        np.testing.assert_allclose(res.expect[key], ref.expect[key], rtol=0, atol=TOL)
    assert res.stats["steps"] == pytest.approx(ref.stats["steps"]) and res.stats["stopped"] is False
    assert res.stats["chunk"] == chunk and res.method == ref.method
    if batched:
        assert seen[0][2].shape == (3, 3, 3) and seen[0][3]["n"].shape == (3,)


def test_store_states_false_still_streams_states_and_keeps_expectations():
    args, kw = problem("tsit5", batched=False)
    ref = mesolve(*args, **kw)
    seen, on_save = record()
    res = mesolve(*args, on_save=on_save, store_states=False, **kw)  # default chunk
    assert res.states is None
    np.testing.assert_allclose(np.stack([s[2] for s in seen]), ref.states, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.expect["n"], ref.expect["n"], rtol=0, atol=TOL)
    np.testing.assert_allclose(res.final_state, ref.final_state, rtol=0, atol=TOL)


def test_returning_true_stops_and_the_result_ends_there():
    args, kw = problem("expm", batched=False)
    ref = mesolve(*args, **kw)
    calls = []

    def on_save(index, t, state, expect):
        calls.append(index)
        return index == 5

    res = mesolve(*args, on_save=on_save, chunk=4, **kw)
    assert calls == list(range(6))
    assert res.stats["stopped"] is True and len(res.times) == 6 and res.states.shape == (6, 3, 3)
    np.testing.assert_allclose(res.states, ref.states[:6], rtol=0, atol=TOL)
    np.testing.assert_allclose(res.final_state, ref.states[5], rtol=0, atol=TOL)
    np.testing.assert_allclose(res.expect["n"], ref.expect["n"][:6], rtol=0, atol=TOL)


def test_an_exception_in_the_callback_propagates():
    args, kw = problem("expm", batched=False)

    class Stop(Exception):
        pass

    calls = []

    def on_save(index, t, state, expect):
        calls.append(index)
        if index == 2:
            raise Stop

    with pytest.raises(Stop):
        mesolve(*args, on_save=on_save, chunk=4, **kw)
    assert calls == [0, 1, 2]


class _OneCallOnly(Method):
    """A method with a one-call kernel only (not registered): it cannot stream."""

    name = "onecall"

    def solve(self, st, dyn):  # pragma: no cover - never reached
        raise AssertionError

    def memory_bytes(self, problem):
        return 0


@pytest.mark.parametrize("kw, exc, needle", [
    (dict(on_save=3), TypeError, "on_save must be a callable"),
    (dict(on_save=lambda i, t: None), TypeError, "on_save must accept four positional arguments"),
    (dict(on_save=lambda *a: None, chunk=0), ValueError, "chunk must be a positive integer, got 0"),
    (dict(on_save=lambda *a: None, chunk=2.5), ValueError, "chunk must be a positive integer, got 2.5"),
    (dict(on_save=lambda *a: None, chunk=True), ValueError, "chunk must be a positive integer, got True"),
    (dict(chunk=4), ValueError, "chunk=4 is only used with on_save"),
    (dict(on_save=lambda *a: None, method=_OneCallOnly()), ValueError, "on_save needs a method that runs in chunks"),
])
def test_bad_input_names_the_argument(kw, exc, needle):
    base = dict(method="expm")
    base.update(kw)
    with pytest.raises(exc, match=needle.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        mesolve(SZ, np.diag([1.0, 0.0]), np.linspace(0, 1, 5), [SM], **base)


def test_chunk_program_compiles_once():
    """Many chunks, one compiled chunk program; a second solve with other values compiles nothing."""
    H = 0.5 * SZ + 0.3 * SX
    tl = np.linspace(0.0, 2.0, 41)
    before = _engine.stream_advance._cache_size()
    mesolve(H, np.diag([1.0, 0.0]), tl, [SM], method="rk4", dt=0.05, on_save=lambda *a: None, chunk=3)
    assert _engine.stream_advance._cache_size() - before <= 1
    mid = _engine.stream_advance._cache_size()
    mesolve(H * 1.1, np.diag([0.0, 1.0]), tl, [0.5 * SM], method="rk4", dt=0.02, on_save=lambda *a: None, chunk=3)
    assert _engine.stream_advance._cache_size() == mid


PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import nephlab
    from nephlab.quantum import destroy

    sys.path.insert(0, sys.argv[5])
    from memory_probe import peak_growth

    n, T, stream, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
    a = destroy(n)
    H = a.T @ a + 0.3 * (a + a.T)
    rho0 = np.zeros((n, n), complex); rho0[0, 0] = 1.0
    kw = dict(e_ops=[a.T @ a], method="rk4", dt=1e-3, store_states=store)
    if stream:
        kw.update(on_save=lambda *args: None, chunk=20)
    tl = np.linspace(0.0, 1e-3 * (T - 1), T)

    def call():
        return nephlab.mesolve(H, rho0, tl, [0.5 * a], **kw)

    call()  # compile
    res, growth = peak_growth(call)
    print(json.dumps({"growth": growth, "n_times": len(res.times)}))
""")


def _peak_growth(n: int, T: int, stream: bool, store: bool) -> int:
    env = dict(os.environ, JAX_PLATFORMS="cpu", MALLOC_MMAP_THRESHOLD_="65536", NEPHLAB_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(n), str(T), str(int(stream)), str(int(store)),
                           str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["n_times"] == T
    return out["growth"]


def test_streaming_without_stored_states_keeps_memory_bounded():
    """n = 64, 3001 saved times: keeping the streamed states costs 3001 · 16 n² ≈ 197 MB (measured,
    to show that the probe sees it); with store_states=False the solve holds one chunk of 20 states
    (1.3 MB) and the peak does not grow with the number of saved times."""
    n, T = 64, 3001
    stored = T * 16 * n * n
    with_states = _peak_growth(n, T, stream=True, store=True)
    streamed = _peak_growth(n, T, stream=True, store=False)
    assert with_states > 0.8 * stored, f"the probe missed the stored states: {with_states / 1e6:.0f} MB"
    assert streamed < 0.1 * stored, f"streaming with store_states=False grew by {streamed / 1e6:.0f} MB"


def test_zz_report_max_differences():
    """Prints the largest streamed-vs-one-call difference per method (run with -s)."""
    for key, diff in sorted(MAX_DIFF.items()):
        print(f"stream vs one call: {key:24s} max |Δρ| = {diff:.3g}")


# ---------------------------------------------------------------------------------------------
# Recorder (an on_save that keeps what came so far) and the lindblad task's stream()
# ---------------------------------------------------------------------------------------------


def test_recorder_keeps_states_expectations_entropy_and_purity():
    from nephlab.quantum import Recorder

    args, kw = problem("expm", batched=False)
    ref = mesolve(*args, **kw)
    points = []
    rec = Recorder(args[2], 3, ["a", "n"], on_point=points.append, attrs={"model": "demo", "params": {"x": 1}})
    mesolve(*args, on_save=rec, chunk=5, store_states=False, **kw)
    assert rec.n_done == len(args[2]) and points == list(range(len(args[2])))
    np.testing.assert_allclose(rec.states, ref.states, rtol=0, atol=TOL)
    np.testing.assert_allclose(rec.expect[0], ref.expect["a"], rtol=0, atol=TOL)  # a dict is read by name
    np.testing.assert_allclose(rec.entropy, ref.entropy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.purity, ref.purity(), rtol=0, atol=1e-12)
    ds = rec.to_dataset()
    assert ds.attrs["model"] == "demo" and json.loads(ds.attrs["params"]) == {"x": 1}
    np.testing.assert_allclose(ds["a_imag"], ref.expect["a"].imag, atol=TOL)  # a is not Hermitian


def test_recorder_on_point_true_stops_and_bad_input_is_named():
    from nephlab.quantum import Recorder

    args, kw = problem("expm", batched=False)
    rec = Recorder(args[2], 3, ["n", "a"], on_point=lambda j: j == 3)
    res = mesolve(*args, on_save=rec, **kw)
    assert rec.n_done == 4 and len(res.times) == 4 and np.isnan(rec.entropy[4:]).all()
    with pytest.raises(ValueError, match="one Recorder per system"):
        bargs, bkw = problem("expm", batched=True)
        mesolve(*bargs, on_save=Recorder(bargs[2], 3, ["n", "a"]), **bkw)
    with pytest.raises(TypeError, match="e_names must be a sequence of str"):
        Recorder(args[2], 3, "n")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        Recorder(args[2], 0)
    with pytest.raises(TypeError, match="on_point must be a callable"):
        Recorder(args[2], 3, on_point=1)


def test_lindblad_task_stream_matches_the_task():
    from nephlab.tasks import run_task
    from nephlab.tasks.lindblad import SPEC, inputs, stream

    p = SPEC.validate({"model": "oscillator", "n": 6, "F": 0.4, "kerr": 0.2, "t_max": 3.0, "n_times": 31})
    rec = stream(inputs(p), chunk=7)
    ref = run_task("lindblad", **p)
    np.testing.assert_allclose(rec.expect[0].real, ref.n_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.entropy, ref.entropy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.states[-1].real, ref.rho_final_real, rtol=0, atol=1e-12)
    assert rec.e_names == ["n_mean", "x", "p"]
