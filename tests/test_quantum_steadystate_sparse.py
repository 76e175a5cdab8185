"""``steadystate(method="iterative")`` on sparse operators (issue 15): matrix-free GMRES with the
Sylvester preconditioner, checked against QuTiP's ``steadystate`` on the driven Kerr chain.

Tolerance 1e-8 (Frobenius distance of the density matrices): both codes solve to a relative
residual near 1e-13, and the Liouvillian's smallest nonzero eigenvalue (~κ/10 here) amplifies that
by at most ~1e3.
"""

from __future__ import annotations

import numpy as np
import pytest
import qutip
import scipy.sparse as sps

from nephlab.quantum import steadystate
from nephlab.quantum._steadystate_sparse import is_sparse_operator, sparse_input, steadystate_sparse
from nephlab.quantum.xp import kerr_chain

AGREE = 1e-8


def _qutip_ops(M, H, c_ops):
    dims = [[3] * M, [3] * M]
    return qutip.Qobj(H, dims=dims), [qutip.Qobj(c, dims=dims) for c in c_ops]


def test_sparse_input_detection():
    H, c_ops, _ = kerr_chain(2)
    Hq, cq = _qutip_ops(2, H, c_ops)
    assert is_sparse_operator(H) and is_sparse_operator(Hq.to("csr")) and is_sparse_operator(Hq.to("dia"))
    assert not is_sparse_operator(H.toarray()) and not is_sparse_operator(Hq.to("dense"))
    assert sparse_input(H.toarray(), c_ops) and not sparse_input(H.toarray(), [c.toarray() for c in c_ops])


def test_kerr_m3_equals_qutip_scipy_input():
    H, c_ops, _ = kerr_chain(3)
    Hq, cq = _qutip_ops(3, H, c_ops)
    ref = qutip.steadystate(Hq, cq).full()
    rho = steadystate(H, c_ops, method="iterative")
    assert rho.shape == (27, 27) and rho.dtype == np.complex128
    assert np.linalg.norm(np.asarray(rho) - ref) < AGREE
    assert abs(np.trace(np.asarray(rho)) - 1) < 1e-14


def test_kerr_m3_qobj_dia_in_qobj_out():
    H, c_ops, _ = kerr_chain(3)
    Hq, cq = _qutip_ops(3, H, c_ops)
    ref = qutip.steadystate(Hq, cq).full()
    rho = steadystate(Hq.to("dia"), [c.to("dia") for c in cq], method="iterative")
    assert isinstance(rho, qutip.Qobj) and rho.dims == [[3, 3, 3], [3, 3, 3]]
    assert np.linalg.norm(rho.full() - ref) < AGREE


def test_mixed_dense_hamiltonian_sparse_collapse():
    H, c_ops, _ = kerr_chain(2)
    Hq, cq = _qutip_ops(2, H, c_ops)
    rho = steadystate(H.toarray(), c_ops, method="iterative")
    assert np.linalg.norm(np.asarray(rho) - qutip.steadystate(Hq, cq).full()) < AGREE


@pytest.mark.slow
def test_kerr_m4_auto_picks_sparse_and_equals_qutip():
    # D = 81: n² = 6561 > 1600, so "auto" takes the sparse iterative path. QuTiP's dense solve is
    # the reference (its sparse LU takes longer on this problem).
    H, c_ops, _ = kerr_chain(4)
    Hq, cq = _qutip_ops(4, H, c_ops)
    ref = qutip.steadystate(Hq, cq, solver="solve").full()
    rho = steadystate(Hq, cq)
    assert np.linalg.norm(rho.full() - ref) < AGREE


def test_preconditioner_converges_fast():
    H, c_ops, _ = kerr_chain(3)
    rho, res, info = steadystate_sparse(H, c_ops, tol=1e-12, restart=None, maxiter=None, normalize=True)
    assert res <= 1e-12 and info["iterations"] < 60  # 36 at M=4, 46 at M=6 (benchmarks/RESULTS.md)


def test_not_converged_raises_with_residual():
    H, c_ops, _ = kerr_chain(3)
    with pytest.raises(RuntimeError, match=r"did not reach tol=1e-12.*Increase maxiter or restart"):
        steadystate(H, c_ops, method="iterative", restart=2, maxiter=1)


def test_bad_sparse_input():
    H, c_ops, _ = kerr_chain(2)
    with pytest.raises(ValueError, match="H must be Hermitian"):
        steadystate(H + 0.1j * sps.identity(9, format="csr"), c_ops, method="iterative")
    with pytest.raises(ValueError, match=r"c_ops\[0\] has shape \(3, 3\)"):
        steadystate(H, [sps.identity(3, format="csr")], method="iterative")
    bad = H.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="H contains NaN"):
        steadystate(bad, c_ops, method="iterative")
