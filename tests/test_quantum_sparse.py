"""Sparse operators for large Hilbert spaces (issue 15): structure helpers, mesolve on the
"sparse" format, memory.

Model: M coupled Kerr cavities, d = 3 (D = 3^M), H = Σ_k[-0.5 n_k + 0.5 a_k†a_k†a_k a_k
+ 0.3 (a_k + a_k†)] + 0.2 Σ_k (a_k† a_{k+1} + h.c.), c_k = sqrt(0.1) a_k, ρ0 = vacuum.

Tolerances: sparse vs dense nephlab with the same fixed-step rk4 is the same arithmetic in a
different order (rounding only): 1e-8 absolute on ⟨n_0⟩ and on ρ(t). Against QuTiP 5 (Adams at
rtol 1e-8, atol 1e-10) the shared tolerance of tests/test_mesolve_reference.py: nephlab at
rtol 1e-6 / atol 1e-8, relative error <= 2e-6. M = 6 (D = 729) runs in benchmarks/large.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import qutip
import scipy.sparse as sp

import nephlab as nl
from nephlab.quantum import sparse as nsp
from nephlab.bench.large import kerr_lattice as _bench_lattice
from nephlab.quantum.methods import Problem, get_method

A_LOC = np.diag(np.sqrt(np.arange(1, 3)), 1)  # annihilation operator of one cavity, d = 3


def kerr_lattice(M: int):
    """(H, c_ops, n_0, rho0) of the Kerr lattice: scipy.sparse CSR from local pieces (the
    benchmark's builder, nephlab.bench.large), rho0 dense."""
    H, c_ops, n0, rho0 = _bench_lattice(M)
    return H, c_ops, n0, rho0.toarray()


def rel_err(x, ref) -> float:
    return float(np.max(np.abs(np.asarray(x) - np.asarray(ref))) / np.max(np.abs(np.asarray(ref))))


# ---------------------------------------------------------------------------------------------
# structure helpers
# ---------------------------------------------------------------------------------------------


def test_structure_helpers_equal_qutip_tensor():
    a, sz = qutip.destroy(3), qutip.sigmaz()
    got = nsp.tensor(sz, a, qutip.qeye(2))
    assert sp.issparse(got) and got.nnz == 2 * 2 * 2
    np.testing.assert_array_equal(got.toarray(), qutip.tensor(sz, a, qutip.qeye(2)).full())
    np.testing.assert_array_equal(nsp.tensor([sz.full(), sp.csr_matrix(a.full())]).toarray(), qutip.tensor(sz, a).full())
    emb = nsp.embed(a, 1, [2, 3, 2])
    np.testing.assert_array_equal(emb.toarray(), qutip.tensor(qutip.qeye(2), a, qutip.qeye(2)).full())
    np.testing.assert_array_equal(nsp.qeye([2, 3]).toarray(), np.eye(6))


def test_structure_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="site must be an integer in \\[0, 2\\]"):
        nsp.embed(A_LOC, 3, [3, 3, 3])
    with pytest.raises(ValueError, match="site 1 has dimension 2"):
        nsp.embed(A_LOC, 1, [3, 2])
    with pytest.raises(ValueError, match="dims must be positive integers"):
        nsp.qeye([2, 0])
    with pytest.raises(ValueError, match="square"):
        nsp.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        nsp.as_sparse(sp.csr_matrix(np.array([[np.nan, 0], [0, 1]])), "H")


# ---------------------------------------------------------------------------------------------
# mesolve on the sparse format
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("M", [3, pytest.param(4, marks=pytest.mark.slow)])
def test_sparse_equals_dense_nephlab_and_qutip(M):
    H, c_ops, n0, rho0 = kerr_lattice(M)
    tl = np.linspace(0.0, 2.0, 5)
    kw = dict(e_ops=[n0], method="rk4", dt=0.1)
    sparse = nl.mesolve(H, rho0, tl, c_ops, format="sparse", **kw)
    dense = nl.mesolve(H.toarray(), rho0, tl, [c.toarray() for c in c_ops], format="dense", **kw)
    assert sparse.stats["format"] == "sparse" and dense.stats["format"] in ("dia", "dense")
    assert np.max(np.abs(sparse.expect[0] - dense.expect[0])) <= 1e-8
    assert np.max(np.abs(np.asarray(sparse.final_state) - np.asarray(dense.final_state))) <= 1e-8

    adaptive = nl.mesolve(H, rho0, tl, c_ops, e_ops=[n0], method="tsit5", rtol=1e-6, atol=1e-8, format="sparse")
    ref = qutip.mesolve(qutip.Qobj(H), qutip.Qobj(rho0), tl, [qutip.Qobj(c) for c in c_ops], e_ops=[qutip.Qobj(n0)],
                        options={"rtol": 1e-8, "atol": 1e-10, "nsteps": 100_000})
    assert rel_err(adaptive.expect[0], ref.expect[0]) <= 2e-6
    assert rel_err(sparse.expect[0], ref.expect[0]) <= 2e-6  # rk4 at dt=0.1: local error ~1e-7


def test_sparse_rhs_is_exactly_hermitian_and_equals_dense():
    """The Hermitian sparse right-hand side (jump slices summed into Z = A ρ + J/2, then Z + Z†)
    equals the dense Lindbladian to rounding and is exactly Hermitian, with complex jump values
    (whose two vector scalings round an entry and its mirror differently)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from nephlab.quantum import _ops

    rng = np.random.default_rng(3)
    n = 27
    H = sp.random(n, n, density=0.15, random_state=4) * (1 + 0.5j)
    H = (H + H.conj().T).toarray()
    Ls = [np.diag(rng.normal(size=n - o) + 1j * rng.normal(size=n - o), o) for o in (1, 3, 9)]
    x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    rho = x @ x.conj().T
    rho = 0.5 * (rho + rho.conj().T) / np.trace(rho).real  # exactly Hermitian
    A = -1j * H - 0.5 * sum(L.conj().T @ L for L in Ls)
    data = [_ops.to_sparse_jump(L) for L in Ls]
    assert all(isinstance(d, _ops.Diagonals) for d in data)
    out = np.asarray(_ops.sparse_lindblad(_ops.to_sparse(A), data, _ops.split(rho), True))
    ref = A @ rho + rho @ A.conj().T + sum(L @ rho @ L.conj().T for L in Ls)
    assert np.abs(_ops.merge(out) - ref).max() < 1e-12 * np.abs(ref).max()
    assert np.array_equal(out[0], out[0].T) and np.array_equal(out[1], -out[1].T)


def test_unpartitioned_rhs_of_the_d81_lattice_equals_the_dense_liouvillian(monkeypatch):
    """The D = 81 right-hand side as the solves compile it (Z = A ρ + J/2 written as an in-place
    update of a buffer at a run-time offset, n <= _ops.UNPARTITIONED_MAX_N) equals the dense
    Liouvillian applied to vec(ρ) to 1e-13, is exactly Hermitian, is bit for bit the right-hand
    side without the in-place update (the same sums in the same order), also under jax.vmap and
    with the operator data as run-time arguments, and the update returns its input at any offset
    (both ends clamp it alike)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from nephlab.quantum import _ops

    H, c_ops, _, _ = kerr_lattice(4)
    n = H.shape[0]
    assert n <= _ops.UNPARTITIONED_MAX_N
    Hd, Cs = H.toarray(), [c.toarray() for c in c_ops]
    eye = np.eye(n)
    # column-stacking vec: vec(A X B) = (B^T ⊗ A) vec(X)
    liou = -1j * (np.kron(eye, Hd) - np.kron(Hd.T, eye))
    for c in Cs:
        cdc = c.conj().T @ c
        liou += np.kron(c.conj(), c) - 0.5 * (np.kron(eye, cdc) + np.kron(cdc.T, eye))
    rng = np.random.default_rng(11)
    rhos = []
    for _ in range(2):
        x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
        rho = x @ x.conj().T
        rhos.append(0.5 * (rho + rho.conj().T) / np.trace(rho).real)
    A = _ops.to_sparse(-1j * H - 0.5 * sum(c.conj().T @ c for c in c_ops))
    Ls = [_ops.to_sparse_jump(c) for c in c_ops]
    rhs = jax.jit(lambda ops, y: _ops.sparse_lindblad(ops[0], ops[1], y, True))
    ys = jnp.stack([_ops.split(r) for r in rhos])
    outs = [np.asarray(rhs((A, Ls), y)) for y in ys]
    for rho, out in zip(rhos, outs):
        ref = (liou @ rho.reshape(-1, order="F")).reshape(n, n, order="F")
        assert np.abs(_ops.merge(out) - ref).max() < 1e-13 * np.abs(ref).max()
        assert np.array_equal(out[0], out[0].T) and np.array_equal(out[1], -out[1].T)
    batched = np.asarray(jax.jit(jax.vmap(lambda y: _ops.sparse_lindblad(A, Ls, y, True)))(ys))
    assert np.array_equal(batched, np.stack(outs))
    z = jnp.asarray(rng.normal(size=(2, n, n)))
    for off in (0, 1, 7, -3):
        assert np.array_equal(np.asarray(_ops._unpartitioned(z, ys[0], jnp.int32(off))), np.asarray(z))
    monkeypatch.setattr(_ops, "UNPARTITIONED_MAX_N", 0)  # the loops as XLA partitions them
    plain = jax.jit(lambda ops, y: _ops.sparse_lindblad(ops[0], ops[1], y, True))
    assert all(np.array_equal(out, np.asarray(plain((A, Ls), y))) for out, y in zip(outs, ys))


class _Compiled(Exception):
    pass


def _compiled_solve_text(monkeypatch, *args, **kw) -> str:
    """The optimised HLO of the program that ``nl.mesolve(*args, **kw)`` compiles (not run)."""
    from nephlab.quantum import _engine

    solve = _engine.solve

    def compile_only(st, dyn, in_axes=None, batched=False):
        raise _Compiled(solve.lower(st, dyn, in_axes=in_axes, batched=batched).compile().as_text())

    with monkeypatch.context() as m:
        m.setattr(_engine, "solve", compile_only)
        with pytest.raises(_Compiled) as got:
            nl.mesolve(*args, **kw)
    return str(got.value)


def _state_sized_partitions(hlo: str, n: int) -> list[str]:
    """Fusions split across threads (``outer_dimension_partitions``) whose output is a real-split
    n × n state (2, n, n) or its flattened (2, n²) view: the per-step loops on the state."""
    shapes = (f"f64[2,{n},{n}]", f"f64[2,{n * n}]")
    return [ln for ln in hlo.splitlines() if "outer_dimension_partitions" in ln
            and ln.split("=", 1)[1].strip().startswith(shapes)]


def test_d81_step_loops_are_not_split_across_threads(monkeypatch):
    """The compiled D = 81 sparse solves (tsit5 and rk4, and a vmapped batch of two initial
    states) split no loop over the state across threads: the stage sums and the new state are
    in-place updates of a buffer (_rk.pin) and the right-hand side's product one too
    (_ops._unpartitioned), which XLA's CPU compiler does not partition. With
    UNPARTITIONED_MAX_N = 0 (both undone) it does split them where it has more than one core,
    which shows that the check sees the partitions it counts; on one core it splits nothing."""
    from nephlab.quantum import _ops

    H, c_ops, n0, rho0 = _bench_lattice(4)
    n = H.shape[0]
    assert n <= _ops.UNPARTITIONED_MAX_N
    tl = np.linspace(0.0, 1.0, 3)
    r0 = rho0.toarray()
    kw = dict(e_ops=[n0], store_states=False, format="sparse")
    cases = {
        "tsit5": ((H, r0, tl, c_ops), dict(kw, method="tsit5")),
        "rk4": ((H, r0, tl, c_ops), dict(kw, method="rk4", dt=0.1)),
        "tsit5, batch of 2": ((H, np.stack([r0, r0]), tl, c_ops), dict(kw, method="tsit5")),
    }
    for name, (args, opts) in cases.items():
        hlo = _compiled_solve_text(monkeypatch, *args, **opts)
        assert _state_sized_partitions(hlo, n) == [], name
        if "batch" in name:  # the offset is shared by the batch: updates, not scatters
            assert " scatter(" not in hlo, name
    import jax

    try:  # the traces are cached (the solve and the right-hand side): trace them again, undone
        jax.clear_caches()
        with monkeypatch.context() as m:
            m.setattr(_ops, "UNPARTITIONED_MAX_N", 0)
            hlo = _compiled_solve_text(monkeypatch, *cases["tsit5"][0], **cases["tsit5"][1])
    finally:
        jax.clear_caches()
    split = _state_sized_partitions(hlo, n)
    if len(os.sched_getaffinity(0)) > 1:
        assert len(split) >= 6, split  # at least the six stage sums of a tsit5 step
    else:
        assert "outer_dimension_partitions" not in hlo


def test_qobj_csr_dia_and_scipy_inputs_stay_sparse(monkeypatch):
    """Qobj with CSR or Dia data and scipy CSR/DIA matrices give one result, with no dense copy
    of any operator on the way (toarray/full are disabled during the call)."""
    H, c_ops, n0, rho0 = kerr_lattice(3)
    tl = np.linspace(0.0, 0.5, 3)
    kw = dict(e_ops=[n0], method="rk4", dt=0.05, format="sparse")
    ref = nl.mesolve(H, rho0, tl, c_ops, **kw)
    inputs = {
        "qobj_csr": (qutip.Qobj(H).to("csr"), [qutip.Qobj(c).to("csr") for c in c_ops]),
        "qobj_dia": (qutip.Qobj(H).to("dia"), [qutip.Qobj(c).to("dia") for c in c_ops]),
        "scipy_dia": (H.todia(), [c.todia() for c in c_ops]),
    }
    for name, (h, cs) in inputs.items():
        assert type(h).__name__ == "Qobj" and nsp.is_sparse(h) or sp.issparse(h)
        with monkeypatch.context() as m:
            for cls in (sp.csr_matrix, sp.dia_matrix, sp.coo_matrix):
                m.setattr(cls, "toarray", lambda self, *a, **k: pytest.fail("an operator was densified"))
            m.setattr(qutip.Qobj, "full", lambda self, *a, **k: pytest.fail("a Qobj operator was densified"))
            res = nl.mesolve(h, rho0, tl, cs, **kw)
        assert res.stats["format"] == "sparse", name
        np.testing.assert_allclose(res.expect[0], ref.expect[0], rtol=0, atol=1e-13, err_msg=name)


def test_auto_picks_sparse_above_the_crossover_and_dense_below():
    H, c_ops, n0, rho0 = kerr_lattice(3)  # D = 27 < SPARSE_MIN_N: the dense engine
    res = nl.mesolve(qutip.Qobj(H), rho0, [0.0, 0.1], [qutip.Qobj(c) for c in c_ops], method="rk4", dt=0.05)
    assert res.stats["format"] != "sparse"
    H, c_ops, n0, rho0 = kerr_lattice(4)  # D = 81 >= SPARSE_MIN_N
    assert 3**4 >= nsp.SPARSE_MIN_N
    res = nl.mesolve(H, rho0, [0.0, 0.1], c_ops, method="rk4", dt=0.05, e_ops=[n0], store_states=False)
    assert res.stats["format"] == "sparse"
    assert abs(res.expect[0][0]) < 1e-15 and 0 < res.expect[0][-1].real < 0.01


def test_auto_keeps_a_single_kerr_oscillator_banded():
    """A driven Kerr oscillator occupies 3 diagonals: the banded engine with its interaction frame
    is ~60x faster there (n = 100: 0.24 s vs 15.8 s, mesolve.SPARSE_MIN_OFFSETS), so auto keeps it,
    for sparse (QuTiP Dia) inputs as well."""
    from nephlab.quantum.mesolve import SPARSE_MIN_OFFSETS

    n = 64
    a = qutip.destroy(n)
    H = -0.5 * a.dag() * a + 0.25 * a.dag() * a.dag() * a * a + (a + a.dag())
    assert len(set(np.nonzero(H.full())[1] - np.nonzero(H.full())[0])) <= SPARSE_MIN_OFFSETS
    res = nl.mesolve(H, qutip.fock_dm(n, 0), [0.0, 0.1], [np.sqrt(0.1) * a], method="rk4", dt=0.05)
    assert res.stats["format"] == "dia"
    res = nl.mesolve(H, qutip.fock_dm(n, 0), [0.0, 0.1], [np.sqrt(0.1) * a], method="rk4", dt=0.05, format="sparse")
    assert res.stats["format"] == "sparse"


def test_bad_format_arguments():
    H, c_ops, n0, rho0 = kerr_lattice(2)
    with pytest.raises(ValueError, match="format='bogus' is not a known operator format"):
        nl.mesolve(H, rho0, [0.0, 1.0], c_ops, format="bogus")
    with pytest.raises(ValueError, match="format='sparse' needs H and every c_ops entry .* list format"):
        nl.mesolve(lambda t: H.toarray() * np.cos(t), rho0, [0.0, 1.0], c_ops, format="sparse")
    with pytest.raises(ValueError, match="format='sparse' runs with method="):
        nl.mesolve(H, rho0, [0.0, 1.0], c_ops, format="sparse", method="expm")
    with pytest.raises(ValueError, match="H must be Hermitian"):
        nl.mesolve(H + 1j * sp.eye(9), rho0, [0.0, 1.0], c_ops, format="sparse")
    with pytest.raises(ValueError, match="c_ops\\[0\\] has shape"):
        nl.mesolve(H, rho0, [0.0, 1.0], [sp.eye(4)], format="sparse")


# ---------------------------------------------------------------------------------------------
# memory honesty
# ---------------------------------------------------------------------------------------------


def test_memory_refusal_names_both_footprints_and_suggestions(monkeypatch):
    import importlib

    mod = importlib.import_module("nephlab.quantum.mesolve")
    monkeypatch.setattr(mod, "_available_bytes", lambda: (10 * 2**20, "free RAM"))
    H, c_ops, n0, rho0 = kerr_lattice(5)
    with pytest.raises(ValueError) as err:
        nl.mesolve(H.toarray(), rho0, np.linspace(0, 1, 51), [c.toarray() for c in c_ops], method="rk4", dt=0.1,
                   format="dense")
    msg = str(err.value)
    assert "dense operators" in msg and "sparse operators" in msg and "mcsolve" in msg and "GPU/cluster" in msg
    fp = mod.footprints(Problem(n=729, n_c_ops=6, fmt="sparse", op_nnz=13_000, max_nnz=10_000), get_method("rk4"))
    # operators: 7 dense matrices; sparse: 24 B per nonzero plus the (nnz, 2, n) gathered product, twice
    assert fp["operators_dense"] == 7 * 16 * 729**2
    assert fp["operators_sparse"] == 24 * 13_000 + 2 * 16 * 10_000 * 729


def test_lindblad_task_estimate_reports_dense_and_sparse():
    from nephlab.tasks.lindblad import SPEC, estimate

    e = estimate(SPEC.validate({"n": 10}))
    assert e["memory_bytes_dense"] > 0 and e["memory_bytes_sparse"] > 0 and "suggestion" not in e


_PEAK_PROBE = r"""
import json, resource, sys
from nephlab.bench.large import kerr_lattice
import nephlab as nl
H, c_ops, n0, rho0 = kerr_lattice(6)
rho0 = rho0.toarray()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
res = nl.mesolve(H, rho0, [0.0, 0.2], c_ops, e_ops=[n0], method="rk4", dt=0.1, store_states=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"delta": after - before, "format": res.stats["format"], "n": float(res.expect[0][-1].real)}))
"""


@pytest.mark.slow
def test_peak_memory_of_a_d729_run_stays_below_1gb():
    """D = 729 (M = 6), two rk4 steps in a fresh process: the growth of the peak resident set
    during the call (compilation included) stays below 1 GB; a dense superoperator alone would
    be 16 · 729⁴ B = 4.5 TB."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", NEPHLAB_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-c", _PEAK_PROBE], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["format"] == "sparse"
    assert 0 < out["n"] < 0.05
    assert out["delta"] < 1e9, out


def test_both_sparse_layouts_apply_the_operator_exactly():
    """ELL (rows of similar length: lattice operators) and COO (a few long rows) give A @ X and the
    full right-hand side A X + X A† + Σ L X L† exactly (against SciPy's CSR products), with jump
    operators in the slice, gather and ELL layouts together."""
    import jax
    import jax.numpy as jnp
    import scipy.sparse as sp

    from nephlab.quantum import _ops

    rng = np.random.default_rng(1)
    n = 40
    ell = sp.random(n, n, density=0.1, random_state=2, format="csr") * (1 + 1j)
    coo = ell.tolil()
    coo[3, :] = rng.normal(size=n)  # one full row: padding to it would waste work
    coo = coo.tocsr()
    X = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    y = jnp.asarray(np.stack([X.real, X.imag]))
    # jump operators in each of their layouts: one diagonal above and one below the main one
    # (static slices), one entry per row on several diagonals (the gather path), general (ELL)
    up = sp.csr_matrix(np.diag(rng.normal(size=n - 1) + 1j * rng.normal(size=n - 1), 1))
    down = sp.csr_matrix(np.diag(rng.normal(size=n - 3), -3) * (1 - 0.5j))
    perm = sp.csr_matrix((rng.normal(size=n) + 0j, (np.arange(n), rng.permutation(n))), shape=(n, n))
    Ls = [up, down, perm, ell]
    jumps = [_ops.to_sparse_jump(L) for L in Ls]
    assert [type(j).__name__ for j in jumps] == ["Diagonals", "Diagonals", "dict", "dict"]
    assert "p" in jumps[2] and "ec" in jumps[3]
    for m, layout in ((ell, "ec"), (coo, "r")):
        data = _ops.to_sparse(m)
        assert layout in data
        z = np.asarray(_ops.sparse_lmul(data, y))
        np.testing.assert_allclose(z[0] + 1j * z[1], m @ X, atol=1e-12)
        r = np.asarray(jax.jit(_ops.sparse_lindblad, static_argnums=3)(data, jumps, y, False))
        want = m @ X + X @ m.conj().T + sum(L @ X @ L.conj().T for L in Ls)
        np.testing.assert_allclose(r[0] + 1j * r[1], want, atol=1e-12)
    assert _ops.gathered_rows(ell) == n and _ops.gathered_rows(coo) == coo.nnz


def test_zero_value_parts_are_left_out_and_the_rhs_stays_exact():
    """The ELL layout puts each row's diagonal entry in slot 0 and records which parts of each
    slot's values can be nonzero (``_ops.Parts``): for -i H_eff of a real lattice H the slots
    off the diagonal are imaginary, the loss operators real. The right-hand side that leaves
    those multiply-adds out equals the one that does all of them (rounding only) and the dense
    products; complex coefficients (which mix the parts) drop the flags and still give the dense
    result."""
    import jax
    import jax.numpy as jnp

    from nephlab.quantum import _ops

    H, c_ops, _, _ = kerr_lattice(3)
    A = (-1j * H - 0.5 * sum(c.conj().T @ c for c in c_ops)).tocsr()
    data = _ops.to_sparse(A)
    parts = data["parts"]
    assert parts.re == (True,) + (False,) * (len(parts.re) - 1)
    assert all(parts.im)
    cols = np.asarray(data["ec"])
    has_diag = np.flatnonzero(A.diagonal())  # all rows but the vacuum's (H_00 = 0)
    assert has_diag.size == 26 and np.array_equal(cols[0, has_diag], has_diag)  # slot 0: the diagonal
    jumps = [_ops.to_sparse_jump(c) for c in c_ops]
    assert all(isinstance(L, _ops.Diagonals) and L.parts.im == (False,) for L in jumps)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(27, 27)) + 1j * rng.normal(size=(27, 27))
    rho = x @ x.conj().T
    y = jnp.asarray(np.stack([rho.real, rho.imag]))
    f = jax.jit(_ops.sparse_lindblad, static_argnums=3)
    Ad = A.toarray()
    want = Ad @ rho + rho @ Ad.conj().T + sum(c @ rho @ c.conj().T for c in c_ops)
    for herm in (True, False):
        got = np.asarray(f(data, jumps, y, herm))
        full = np.asarray(f(_ops.without_parts(data), [_ops.without_parts(L) for L in jumps], y, herm))
        np.testing.assert_allclose(got, full, rtol=0, atol=1e-14 * np.abs(full).max())
        np.testing.assert_allclose(got[0] + 1j * got[1], want, rtol=0, atol=1e-13 * np.abs(want).max())
    # a complex coefficient on the imaginary-only slots: the sparse solve equals the dense one
    a0 = nsp.embed(np.diag(np.sqrt([1.0, 2.0]), 1), 0, [3, 3, 3])
    drive = [H, [a0.conj().T, lambda t: 0.3 * jnp.exp(1j * t)], [a0, lambda t: 0.3 * jnp.exp(-1j * t)]]
    rho0 = np.zeros((27, 27))
    rho0[0, 0] = 1.0
    tl = np.linspace(0.0, 1.0, 3)
    kw = dict(e_ops=[(a0.conj().T @ a0).toarray()], method="rk4", dt=0.05)
    sparse = nl.mesolve(drive, rho0, tl, c_ops, format="sparse", **kw)
    dense = nl.mesolve([H.toarray(), [a0.conj().T.toarray(), drive[1][1]], [a0.toarray(), drive[2][1]]], rho0, tl,
                       [c.toarray() for c in c_ops], format="dense", **kw)
    assert sparse.stats["format"] == "sparse"
    np.testing.assert_allclose(sparse.expect[0], dense.expect[0], rtol=0, atol=1e-10)
    assert np.max(np.abs(np.asarray(sparse.final_state) - np.asarray(dense.final_state))) <= 1e-10


def test_ket_products_take_the_diagonal_layout_on_lattices_and_stay_exact():
    """For kets (mcsolve) ``to_sparse(..., ket=True)`` stores a lattice operator by its occupied
    diagonals (static offsets, slices of one padded copy) and a scattered operator in the
    row layouts; both give ``A @ ψ`` equal to SciPy's CSR product (rounding only, 1e-12), and the
    diagonal layout is never chosen for density matrices."""
    import jax
    import jax.numpy as jnp

    from nephlab.quantum import _ops

    H, c_ops, _, _ = kerr_lattice(3)  # D = 27: 1 + 2·3 + 2·2 = 11 occupied diagonals
    A = (-1j * H - 0.5 * sum(c.conj().T @ c for c in c_ops)).tocsr()
    scattered = sp.random(27, 27, density=0.15, random_state=3, format="csr") * (1 - 2j)
    rng = np.random.default_rng(4)
    psi = rng.normal(size=27) + 1j * rng.normal(size=27)
    y = jnp.asarray(np.stack([psi.real, psi.imag])[:, :, None])
    dia = _ops.to_sparse(A, ket=True)
    assert isinstance(dia, _ops.Diagonals) and len(dia.offsets) == 11
    assert "ec" in _ops.to_sparse(A)  # density matrices keep ELL
    rows = _ops.to_sparse(scattered, ket=True)
    assert isinstance(rows, dict)  # ~20 diagonals hold ~4 entries each: padding would waste work
    for m, data in ((A, dia), (scattered, rows)):
        z = np.asarray(jax.jit(lambda y, d: _ops.lmul("sparse", (), d, y))(y, data))
        np.testing.assert_allclose(z[0, :, 0] + 1j * z[1, :, 0], m @ psi, rtol=0, atol=1e-12)
    # a batch of kets (vmapped trajectories) through the same data
    ys = jnp.stack([y, 2.0 * y])
    zs = np.asarray(jax.vmap(lambda y: _ops.lmul("sparse", (), dia, y))(ys))
    np.testing.assert_allclose(zs[1], 2.0 * zs[0], rtol=1e-15, atol=0)


def test_kept_preparation_follows_the_operators_content():
    """A warm call reuses what mesolve built from the operators (generator, layouts, the
    Hermiticity check) only for operators of the same content: the same call again gives the
    very same numbers; operators changed in place, a different coefficient function or a
    non-Hermitian H are seen as such (checked against a fresh, uncached solve); first calls from
    several threads share one preparation; the cache is bounded."""
    import importlib

    import jax.numpy as jnp

    ms = importlib.import_module("nephlab.quantum.mesolve")  # the module (the package exports the function)
    H, c_ops, n0, rho0 = kerr_lattice(2)  # D = 9
    H, c_ops = H.copy(), [c.copy() for c in c_ops]
    tl = np.linspace(0.0, 1.0, 3)
    kw = dict(e_ops=[n0], method="rk4", dt=0.05, format="sparse")

    def fresh(*args):
        ms._SPARSE_PREPS.clear()
        return nl.mesolve(*args, **kw).expect[0]

    ms._SPARSE_PREPS.clear()
    first = nl.mesolve(H, rho0, tl, c_ops, **kw).expect[0]
    assert len(ms._SPARSE_PREPS) == 1
    np.testing.assert_array_equal(nl.mesolve(H, rho0, tl, c_ops, **kw).expect[0], first)
    assert len(ms._SPARSE_PREPS) == 1  # found, not rebuilt
    # the same arrays, changed in place: a new key, the new result
    H.data *= 1.5
    c_ops[0].data *= 2.0
    changed = nl.mesolve(H, rho0, tl, c_ops, **kw).expect[0]
    assert len(ms._SPARSE_PREPS) == 2 and np.max(np.abs(changed - first)) > 1e-3
    np.testing.assert_array_equal(changed, fresh(H, rho0, tl, c_ops))
    # time-dependent terms: the coefficient function is part of the key
    X = (c_ops[1] + c_ops[1].conj().T).tocsr()
    slow = nl.mesolve([H, [X, lambda t: jnp.cos(t)]], rho0, tl, c_ops, **kw).expect[0]
    fast = nl.mesolve([H, [X, lambda t: jnp.cos(3.0 * t)]], rho0, tl, c_ops, **kw).expect[0]
    assert np.max(np.abs(fast - slow)) > 1e-6
    np.testing.assert_array_equal(fast, fresh([H, [X, lambda t: jnp.cos(3.0 * t)]], rho0, tl, c_ops))
    # a kept check of a Hermitian H does not let a non-Hermitian one of other content through
    nl.mesolve(H, rho0, tl, c_ops, **kw)
    bad = (H + sp.csr_matrix(([0.5], ([0], [1])), shape=H.shape)).tocsr()
    with pytest.raises(ValueError, match="Hermitian"):
        nl.mesolve(bad, rho0, tl, c_ops, **kw)
    with pytest.raises(ValueError, match="Hermitian"):
        nl.mesolve([H, [bad, lambda t: jnp.cos(t)]], rho0, tl, c_ops, **kw)
    # first calls from several threads at once (Dask workers) share one preparation and agree
    from concurrent.futures import ThreadPoolExecutor

    ms._SPARSE_PREPS.clear()
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: nl.mesolve(H, rho0, tl, c_ops, **kw).expect[0], range(4)))
    assert len(ms._SPARSE_PREPS) == 1
    for out in outs:
        np.testing.assert_array_equal(out, changed)
    # the cache is bounded
    for k in range(ms.SPARSE_PREP_CACHE + 2):
        nl.mesolve(H * (1.0 + 0.01 * k), rho0, tl, c_ops, **kw)
    assert len(ms._SPARSE_PREPS) == ms.SPARSE_PREP_CACHE
