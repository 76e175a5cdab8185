"""Superoperators and the Lindblad generator vs QuTiP (compared by their action on operators)."""

import numpy as np
import pytest
import qutip as qt
from hypothesis import given, settings
from hypothesis import strategies as st

import nephlab._config  # noqa: F401
from nephlab.quantum.operators import destroy, sigmam, sigmap, sigmax, sigmaz
from nephlab.quantum.superop import (
    dissipator_apply,
    lindblad_dissipator,
    lindblad_rhs,
    liouvillian,
    spost,
    spre,
    sprepost,
)


def rand_op(rng, n, *batch):
    return rng.normal(size=batch + (n, n)) + 1j * rng.normal(size=batch + (n, n))


def rand_herm(rng, n, *batch):
    A = rand_op(rng, n, *batch)
    return 0.5 * (A + np.conj(np.swapaxes(A, -1, -2)))


def rand_dm(rng, n, *batch):
    A = rand_op(rng, n, *batch)
    r = A @ np.conj(np.swapaxes(A, -1, -2))
    return r / np.trace(r, axis1=-2, axis2=-1)[..., None, None]


def qutip_apply(S, rho):
    """Apply a QuTiP (column-stacking) superoperator to the matrix rho."""
    return qt.vector_to_operator(S * qt.operator_to_vector(qt.Qobj(rho))).full()


def vec_apply(S, rho):
    n = rho.shape[-1]
    return (np.asarray(S) @ rho.reshape(rho.shape[:-2] + (n * n,))[..., None])[..., 0].reshape(rho.shape)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_pre_post_prepost_convention(n, seed):
    rng = np.random.default_rng(seed)
    A, B, rho = rand_op(rng, n), rand_op(rng, n), rand_op(rng, n)
    np.testing.assert_allclose(vec_apply(spre(A), rho), A @ rho, atol=1e-12)
    np.testing.assert_allclose(vec_apply(spost(B), rho), rho @ B, atol=1e-12)
    np.testing.assert_allclose(vec_apply(sprepost(A, B), rho), A @ rho @ B, atol=1e-12)
    # row-major: vec(A rho B) = (A ⊗ Bᵀ) vec(rho)
    np.testing.assert_allclose(np.asarray(sprepost(A, B)), np.kron(A, B.T), atol=1e-13)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), k=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_liouvillian_matches_qutip(n, k, seed):
    rng = np.random.default_rng(seed)
    H = rand_herm(rng, n)
    cs = [rand_op(rng, n) for _ in range(k)]
    rho = rand_dm(rng, n)
    Lq = qt.liouvillian(qt.Qobj(H), [qt.Qobj(c) for c in cs])
    expected = qutip_apply(Lq, rho)
    np.testing.assert_allclose(vec_apply(liouvillian(H, cs), rho), expected, atol=1e-10)
    np.testing.assert_allclose(np.asarray(lindblad_rhs(H, cs, rho)), expected, atol=1e-10)


def test_dissipator_matches_qutip():
    rng = np.random.default_rng(1)
    L, rho = rand_op(rng, 4), rand_dm(rng, 4)
    expected = qutip_apply(qt.lindblad_dissipator(qt.Qobj(L)), rho)
    np.testing.assert_allclose(vec_apply(lindblad_dissipator(L), rho), expected, atol=1e-11)
    np.testing.assert_allclose(np.asarray(dissipator_apply(L, rho)), expected, atol=1e-11)
    # list of operators: dissipators add
    L2 = rand_op(rng, 4)
    both = np.asarray(dissipator_apply([L, L2], rho))
    np.testing.assert_allclose(both, expected + np.asarray(dissipator_apply(L2, rho)), atol=1e-11)


def test_accepts_qobj_and_trace_preservation():
    a = qt.destroy(4)
    H = a.dag() * a + 0.3 * (a + a.dag())
    # Qobj in, Qobj out (issue 10, item 7): a QuTiP superoperator in QuTiP's column-stacking
    # convention, equal to qutip.liouvillian
    Lq = liouvillian(H, [0.5 * a, 0.2 * a.dag()])
    assert isinstance(Lq, qt.Qobj) and Lq.issuper
    assert (Lq - qt.liouvillian(H, [0.5 * a, 0.2 * a.dag()])).norm() < 1e-13
    L = np.asarray(liouvillian(H.full(), [0.5 * a.full(), 0.2 * a.dag().full()]))
    # trace preservation: vec(I)ᵀ L = 0 in row-major convention (and in QuTiP's, I being symmetric)
    np.testing.assert_allclose(np.eye(4).reshape(16) @ L, 0, atol=1e-12)
    np.testing.assert_allclose(np.eye(4).reshape(16) @ Lq.full(), 0, atol=1e-12)


def test_batch_equals_loop():
    rng = np.random.default_rng(2)
    H = rand_herm(rng, 3, 4)  # batch of 4 Hamiltonians
    c = rand_op(rng, 3)  # shared collapse operator
    c_b = rand_op(rng, 3, 4)
    rho = rand_dm(rng, 3, 4)
    Lb = np.asarray(liouvillian(H, [c, c_b]))
    Rb = np.asarray(lindblad_rhs(H, [c, c_b], rho))
    Db = np.asarray(dissipator_apply(c_b, rho))
    assert Lb.shape == (4, 9, 9) and Rb.shape == (4, 3, 3)
    for i in range(4):
        np.testing.assert_allclose(Lb[i], np.asarray(liouvillian(H[i], [c, c_b[i]])), atol=1e-13)
        np.testing.assert_allclose(Rb[i], np.asarray(lindblad_rhs(H[i], [c, c_b[i]], rho[i])), atol=1e-13)
        np.testing.assert_allclose(Db[i], np.asarray(dissipator_apply(c_b[i], rho[i])), atol=1e-13)
    np.testing.assert_allclose(vec_apply(Lb, rho), Rb, atol=1e-11)


def test_qubit_decay_example():
    L = np.asarray(liouvillian(0.5 * sigmaz(), [sigmam()]))
    excited = np.array([[1, 0], [0, 0]], complex)
    out = vec_apply(L, excited)
    np.testing.assert_allclose(out, np.diag([-1.0, 1.0]), atol=1e-15)
    assert liouvillian(sigmax(), None).shape == (4, 4)
    np.testing.assert_allclose(np.asarray(lindblad_rhs(sigmax(), [], excited)), -1j * (sigmax() @ excited - excited @ sigmax()))


def test_bad_inputs():
    with pytest.raises(ValueError, match="Hermitian"):
        liouvillian(sigmap(), [])
    with pytest.raises(ValueError, match="square"):
        liouvillian(np.zeros((2, 3)), [])
    with pytest.raises(ValueError, match=r"c_ops\[0\].*n=2"):
        liouvillian(sigmaz(), [destroy(3)])
    with pytest.raises(TypeError, match="list"):
        liouvillian(sigmaz(), sigmam())
    with pytest.raises(ValueError, match="NaN"):
        lindblad_rhs(sigmaz(), [np.array([[np.nan, 0], [0, 0]])], np.eye(2))
    with pytest.raises(ValueError, match="broadcast"):
        liouvillian(np.stack([np.eye(2)] * 3), [np.stack([np.eye(2)] * 4)])
    with pytest.raises(ValueError, match="rho"):
        dissipator_apply(sigmam(), np.eye(3))
    with pytest.raises(ValueError, match="dimensions"):
        sprepost(sigmam(), np.eye(3))
    with pytest.raises(TypeError):
        spre("not an operator")
