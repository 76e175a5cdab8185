"""Free-energy estimators from nonequilibrium work samples: Jarzynski, Crooks, Bennett (BAR).

Conventions: k_B = 1; work values in energy units; ``kBT`` > 0 in the same units; ΔF = F(λ_f) - F(λ_i).
Forward work ``W_F`` runs λ_i → λ_f, reverse work ``W_R`` runs the time-reversed protocol
λ_f → λ_i (so Crooks reads P_F(W) / P_R(-W) = exp(β(W - ΔF))).

Every estimator returns a frozen dataclass with the point estimate ``value``, a percentile
bootstrap confidence interval ``ci`` (``n_boot`` resamples, ``seed``, level ``confidence``) and
the list of warning messages it issued. When the number of samples is too small for the
dissipation it issues :class:`SamplingWarning` (a ``UserWarning``) through ``warnings.warn``.
Work arrays may be NumPy or JAX; estimators run on the host in float64.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from .._result import ResultBase, attr, var
from .._validate import in_open_interval, int_seed, integer, positive_float, real_array

__all__ = ["BARResult", "CrooksResult", "JarzynskiResult", "SamplingWarning", "bar", "crooks", "jarzynski"]

_CHUNK = 4_000_000  # elements per bootstrap chunk


class SamplingWarning(UserWarning):
    """Too few work samples for the dissipation: the estimate is biased or its error bar unreliable."""


def _work(w: Any, name: str) -> np.ndarray:
    return real_array(w, name, ndim=1, min_size=2)


def _boot_args(n_boot: Any, confidence: Any, seed: Any) -> tuple[int, float, np.random.Generator]:
    n = integer(n_boot, "n_boot", minimum=0)
    return n, in_open_interval(confidence, "confidence", 0, 1), np.random.default_rng(int_seed(seed, "seed"))


def _ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if s.size == 0:
        return (math.nan, math.nan)
    a = (1 - confidence) / 2
    return (float(np.quantile(s, a)), float(np.quantile(s, 1 - a)))


class _Estimate(ResultBase):
    """What the three estimators' results share: the ``bound`` coordinate (``low``, ``high``)
    of the confidence interval ``ci`` in their Datasets."""

    def _xarray_extra(self, ds):
        return ds.assign_coords(bound=("bound", ["low", "high"]))


def _warn(msgs: list[str], msg: str) -> None:
    msgs.append(msg)
    warnings.warn(msg, SamplingWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Jarzynski
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class JarzynskiResult(_Estimate):
    """Jarzynski estimate ΔF = -k_BT ln⟨exp(-W/k_BT)⟩.

    Attributes:
        value: ΔF (energy).
        ci: (low, high) bootstrap confidence interval of ΔF.
        stderr: bootstrap standard deviation of ΔF (NaN with n_boot = 0).
        exp_avg: ⟨exp(-βW)⟩ and ``exp_avg_stderr`` its standard error (sample std / sqrt(N)).
        mean_work: ⟨W⟩; dissipated_work: ⟨W⟩ - ΔF (energy).
        n: number of samples; n_required: exp(⟨W_diss⟩/k_BT), the Jarzynski (2006) estimate of the
            samples needed for convergence.
        warnings: messages issued (as :class:`SamplingWarning`).

    ``to_xarray()`` holds every number as a 0-d variable with units (``ci`` over the dim
    ``bound`` = low, high); ``n`` and ``warnings`` are attributes; ``save(path)`` writes it.

    Example:
        >>> import numpy as np
        >>> r = jarzynski(np.random.default_rng(0).normal(1.0, 1.0, 500), n_boot=20, seed=0)
        >>> ds = r.to_xarray()
        >>> ds.value.attrs["units"], ds.ci.dims, int(ds.attrs["n"])
        ('energy', ('bound',), 500)
    """

    value: float = var(units="energy", long_name="free-energy difference ΔF (Jarzynski)")
    ci: tuple[float, float] = var("bound", units="energy", long_name="bootstrap confidence interval of ΔF")
    stderr: float = var(units="energy", long_name="bootstrap standard deviation of ΔF")
    exp_avg: float = var(units="1", long_name="⟨exp(-W/kBT)⟩")
    exp_avg_stderr: float = var(units="1", long_name="standard error of ⟨exp(-W/kBT)⟩")
    mean_work: float = var(units="energy", long_name="mean work ⟨W⟩")
    dissipated_work: float = var(units="energy", long_name="dissipated work ⟨W⟩ - ΔF")
    n: int = attr()
    n_required: float = var(units="1", long_name="samples needed, exp(⟨W_diss⟩/kBT)")
    kBT: float = var(units="energy", long_name="temperature kBT")
    warnings: tuple[str, ...] = attr(default=())


def _jarzynski_core(w: np.ndarray, beta: float) -> float:
    return -(special.logsumexp(-beta * w) - math.log(w.size)) / beta


def jarzynski(work: Any, kBT: float = 1.0, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> JarzynskiResult:
    """Jarzynski free-energy difference ΔF = -k_BT ln⟨e^{-βW}⟩, by log-sum-exp.

    Bias warning (Jarzynski, PRE 73, 046105 (2006)): the exponential average is dominated by rare
    trajectories with W < ΔF; about N_c ≈ exp(⟨W_diss⟩/k_BT) samples are needed. A
    :class:`SamplingWarning` is issued when ``⟨W_diss⟩/k_BT > ln N`` (i.e. N < N_c), with
    ⟨W_diss⟩ = ⟨W⟩ - ΔF and ΔF estimated here; since this ΔF is itself biased upwards (so
    ⟨W_diss⟩ is underestimated), the Gaussian estimate ⟨W_diss⟩ ≈ β Var(W)/2 is also used and the
    larger of the two enters the test. Also warns when N < 10.

    Args:
        work: (N,) work samples (energy).
        kBT: temperature (energy), > 0.
        n_boot: bootstrap resamples (0 to skip).
        seed: seed of the bootstrap.
        confidence: level of the percentile interval.

    Returns:
        :class:`JarzynskiResult`.

    Example:
        >>> import numpy as np
        >>> w = np.random.default_rng(0).normal(1.0, np.sqrt(2.0), 20000)  # Gaussian, ΔF = 0
        >>> r = jarzynski(w, 1.0, n_boot=200, seed=1)
        >>> abs(r.value) < 0.1, r.ci[0] < r.value < r.ci[1]
        (True, True)
    """
    w = _work(work, "work")
    kt = positive_float(kBT, "kBT")
    n_boot, conf, rng = _boot_args(n_boot, confidence, seed)
    beta = 1.0 / kt
    n = w.size
    df = _jarzynski_core(w, beta)
    # ⟨e^{-βW}⟩ and its standard error, scaled by e^{-βW_min} for stability
    shift = w.min()
    e = np.exp(-beta * (w - shift))
    scale = math.exp(-beta * shift) if -beta * shift < 700 else math.inf
    exp_avg = float(e.mean() * scale)
    exp_se = float(e.std(ddof=1) / math.sqrt(n) * scale)
    mean_w = float(w.mean())
    wd = mean_w - df
    wd_gauss = 0.5 * beta * float(w.var(ddof=1))
    wd_test = max(wd, wd_gauss)
    msgs: list[str] = []
    if n < 10:
        _warn(msgs, f"jarzynski: only N={n} work samples; the estimate and its interval are unreliable")
    if wd_test / kt > math.log(n):
        _warn(
            msgs,
            f"jarzynski: dissipated work ⟨W_diss⟩/kBT ≈ {wd_test / kt:.3g} exceeds ln N = {math.log(n):.3g}; "
            f"about exp(⟨W_diss⟩/kBT) ≈ {math.exp(min(wd_test / kt, 700)):.3g} samples are needed (Jarzynski 2006). "
            "ΔF is biased upwards and the bootstrap interval is too narrow",
        )
    boots = np.full(n_boot, np.nan)
    per = max(1, _CHUNK // n)
    for i in range(0, n_boot, per):
        m = min(per, n_boot - i)
        idx = rng.integers(0, n, size=(m, n))
        boots[i : i + m] = -(special.logsumexp(-beta * w[idx], axis=1) - math.log(n)) / beta
    return JarzynskiResult(
        value=float(df),
        ci=_ci(boots, conf),
        stderr=float(boots.std(ddof=1)) if n_boot > 1 else math.nan,
        exp_avg=exp_avg,
        exp_avg_stderr=exp_se,
        mean_work=mean_w,
        dissipated_work=float(wd),
        n=n,
        n_required=math.exp(min(wd_test / kt, 700.0)),
        kBT=kt,
        warnings=tuple(msgs),
    )


# ---------------------------------------------------------------------------------------------
# Crooks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CrooksResult(_Estimate):
    """Crooks estimate of ΔF from the forward and reversed-sign reverse work histograms.

    Attributes:
        value: ΔF (energy) from the weighted fit of ln[P_F(W)/P_R(-W)] = β(W - ΔF) with slope β fixed.
        ci: bootstrap confidence interval of ``value``.
        crossing: W where the histograms P_F(W) and P_R(-W) cross (linear interpolation), an
            independent ΔF estimate (NaN when they do not cross inside the overlap).
        slope: free-slope fit of ln(P_F/P_R) against W; equals 1/k_BT when Crooks holds.
        n_overlap_bins: bins with counts in both histograms; bin_edges: the common bins.
        warnings: messages issued (as :class:`SamplingWarning`).

    ``to_xarray()``: 0-d variables with units, ``ci`` over ``bound``, ``bin_edges`` over
    ``bin_edge``; ``n_overlap_bins`` and ``warnings`` are attributes.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = crooks(rng.normal(1.5, 1.4, 2000), rng.normal(0.5, 1.4, 2000), bins=20, n_boot=5, seed=0)
        >>> r.to_xarray().bin_edges.dims, r.to_xarray().slope.attrs["units"]
        (('bin_edge',), '1/energy')
    """

    value: float = var(units="energy", long_name="free-energy difference ΔF (Crooks fit)")
    ci: tuple[float, float] = var("bound", units="energy", long_name="bootstrap confidence interval of ΔF")
    stderr: float = var(units="energy", long_name="bootstrap standard deviation of ΔF")
    crossing: float = var(units="energy", long_name="crossing of P_F(W) and P_R(-W)")
    slope: float = var(units="1/energy", long_name="free-slope fit of ln(P_F/P_R) against W")
    n_overlap_bins: int = attr()
    bin_edges: np.ndarray = var("bin_edge", units="energy", long_name="common histogram bin edges")
    kBT: float = var(units="energy", long_name="temperature kBT")
    warnings: tuple[str, ...] = attr(default=())


def _crooks_fit(wf: np.ndarray, wr_neg: np.ndarray, edges: np.ndarray, beta: float):
    cf, _ = np.histogram(wf, edges)
    cr, _ = np.histogram(wr_neg, edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    ok = (cf > 0) & (cr > 0)
    if ok.sum() < 1:
        return math.nan, math.nan, math.nan, 0
    pf = cf[ok] / wf.size
    pr = cr[ok] / wr_neg.size
    y = np.log(pf / pr)
    var = 1.0 / cf[ok] + 1.0 / cr[ok]  # Poisson variance of ln(counts ratio)
    wgt = 1.0 / var
    # bin abscissa without binning bias: ∫_bin P_F = e^{-βΔF} ∫_bin P_R(-W) e^{βW}, so the
    # effective W of a bin is kT ln⟨e^{βw}⟩ over the reversed samples in it (and, symmetrically,
    # -kT ln⟨e^{-βw}⟩ over the forward samples); average the two
    nb = edges.size - 1
    jf = np.clip(np.searchsorted(edges, wf, side="right") - 1, 0, nb - 1)
    jr = np.clip(np.searchsorted(edges, wr_neg, side="right") - 1, 0, nb - 1)
    cf_ = centers[jf]
    cr_ = centers[jr]
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = np.bincount(jf, weights=np.exp(-beta * (wf - cf_)), minlength=nb)
        sr = np.bincount(jr, weights=np.exp(beta * (wr_neg - cr_)), minlength=nb)
        xf = centers - np.log(sf / np.maximum(cf, 1)) / beta
        xr = centers + np.log(sr / np.maximum(cr, 1)) / beta
        x = 0.5 * (xf + xr)[ok]
    df = float(np.sum(wgt * (x - y / beta)) / np.sum(wgt))
    slope = math.nan
    if ok.sum() >= 2:
        slope = float(np.polyfit(x, y, 1, w=np.sqrt(wgt))[0])
    # crossing of the two densities: sign change of P_F - P_R over bins where either is populated
    diff = cf / wf.size - cr / wr_neg.size
    both = (cf > 0) | (cr > 0)
    xs, ds = centers[both], diff[both]
    cross = math.nan
    sc = np.nonzero(np.diff(np.sign(ds)) != 0)[0]
    if sc.size:
        # choose the sign change nearest the fit estimate
        j = sc[np.argmin(np.abs(xs[sc] - df))]
        d0, d1 = ds[j], ds[j + 1]
        cross = float(xs[j] + (xs[j + 1] - xs[j]) * d0 / (d0 - d1)) if d0 != d1 else float(xs[j])
    return df, slope, cross, int(ok.sum())


def crooks(
    work_forward: Any,
    work_reverse: Any,
    kBT: float = 1.0,
    *,
    bins: int = 50,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> CrooksResult:
    """Crooks free-energy difference from P_F(W)/P_R(-W) = exp(β(W - ΔF)).

    Histograms W_F and -W_R on common bins spanning both samples; in bins populated by both,
    ΔF is the inverse-variance weighted mean of ``W_b - k_BT ln(P_F/P_R)`` (Poisson variance
    1/n_F + 1/n_R per bin), where the bin abscissa W_b is the exponential average of the samples
    in the bin (which removes the O(bin width) bias of using bin centres); the histogram
    crossing point and a free-slope fit are reported too.

    Warning criterion: a :class:`SamplingWarning` is issued when fewer than 3 bins are populated by
    both histograms, or fewer than 20 samples of either direction fall in the overlap region:
    then the dissipation is too large for N and the estimate rests on a few tail samples.

    Args:
        work_forward: (N_F,) forward work (energy); work_reverse: (N_R,) reverse work.
        kBT: temperature (energy), > 0.
        bins: number of histogram bins (>= 3).
        n_boot, seed, confidence: bootstrap settings.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> wf, wr = rng.normal(1.5, np.sqrt(2.0), 20000), rng.normal(0.5, np.sqrt(2.0), 20000)  # ΔF = 0.5
        >>> r = crooks(wf, wr, 1.0, n_boot=100, seed=1)
        >>> abs(r.value - 0.5) < 0.1, abs(r.crossing - 0.5) < 0.2
        (True, True)
    """
    wf = _work(work_forward, "work_forward")
    wr = _work(work_reverse, "work_reverse")
    kt = positive_float(kBT, "kBT")
    bins = integer(bins, "bins", minimum=3)
    n_boot, conf, rng = _boot_args(n_boot, confidence, seed)
    beta = 1.0 / kt
    lo, hi = min(wf.min(), -wr.max()), max(wf.max(), -wr.min())
    if hi <= lo:
        hi = lo + 1e-12
    edges = np.linspace(lo, hi, int(bins) + 1)
    df, slope, cross, nov = _crooks_fit(wf, -wr, edges, beta)
    msgs: list[str] = []
    olo, ohi = max(wf.min(), -wr.max()), min(wf.max(), -wr.min())
    n_in = min(int(np.sum((wf >= olo) & (wf <= ohi))), int(np.sum((-wr >= olo) & (-wr <= ohi)))) if ohi > olo else 0
    if nov < 3 or n_in < 20:
        _warn(
            msgs,
            f"crooks: the forward and reversed work histograms barely overlap ({nov} common bins, "
            f"{n_in} samples of the sparser direction in the overlap); dissipation too large for "
            f"N_F={wf.size}, N_R={wr.size}. Use bar() or more samples",
        )
    boots = np.full(n_boot, np.nan)
    for b in range(n_boot):
        boots[b] = _crooks_fit(wf[rng.integers(0, wf.size, wf.size)], -wr[rng.integers(0, wr.size, wr.size)], edges, beta)[0]
    return CrooksResult(
        value=df,
        ci=_ci(boots, conf),
        stderr=float(np.nanstd(boots, ddof=1)) if np.sum(np.isfinite(boots)) > 1 else math.nan,
        crossing=cross,
        slope=slope,
        n_overlap_bins=nov,
        bin_edges=edges,
        kBT=kt,
        warnings=tuple(msgs),
    )


# ---------------------------------------------------------------------------------------------
# BAR
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class BARResult(_Estimate):
    """Bennett acceptance ratio estimate of ΔF.

    Attributes:
        value: ΔF (energy).
        ci: bootstrap confidence interval.
        stderr: asymptotic standard error of ΔF (Shirts et al., PRL 91, 140601 (2003)).
        bootstrap_stderr: bootstrap standard deviation.
        n_accept: Σ_F f(β(W_F - ΔF) + M) (= the reverse sum at the solution): the effective number
            of forward/reverse "exchanges" the estimate rests on.
        warnings: messages issued (as :class:`SamplingWarning`).

    ``to_xarray()``: 0-d variables with units, ``ci`` over ``bound``; ``warnings`` an attribute.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = bar(rng.normal(1.5, 1.4, 500), rng.normal(0.5, 1.4, 500), n_boot=5, seed=0)
        >>> sorted(r.to_xarray().data_vars)
        ['bootstrap_stderr', 'ci', 'kBT', 'n_accept', 'stderr', 'value']
    """

    value: float = var(units="energy", long_name="free-energy difference ΔF (BAR)")
    ci: tuple[float, float] = var("bound", units="energy", long_name="bootstrap confidence interval of ΔF")
    stderr: float = var(units="energy", long_name="asymptotic standard error of ΔF")
    bootstrap_stderr: float = var(units="energy", long_name="bootstrap standard deviation of ΔF")
    n_accept: float = var(units="1", long_name="BAR acceptance count")
    kBT: float = var(units="energy", long_name="temperature kBT")
    warnings: tuple[str, ...] = attr(default=())


def _bar_solve(bwf: np.ndarray, bwr: np.ndarray) -> float:
    """Solve Σ_F f(bwf - x + M) = Σ_R f(bwr + x - M) for x = βΔF; f = Fermi function."""
    M = math.log(bwf.size / bwr.size)

    def g(x: float) -> float:
        return float(np.sum(special.expit(-(bwf - x + M))) - np.sum(special.expit(-(bwr + x - M))))

    lo = min(bwf.min(), -bwr.max()) - 1.0
    hi = max(bwf.max(), -bwr.min()) + 1.0
    while g(lo) > 0:
        lo -= 2 * (hi - lo)
    while g(hi) < 0:
        hi += 2 * (hi - lo)
    return optimize.brentq(g, lo, hi, xtol=1e-13, rtol=1e-14)


def _bar_solve_vec(bwf: np.ndarray, bwr: np.ndarray, x0: float, iters: int = 60) -> np.ndarray:
    """Vectorised safeguarded Newton over bootstrap rows: bwf (B, N_F), bwr (B, N_R) -> (B,)."""
    M = math.log(bwf.shape[1] / bwr.shape[1])
    x = np.full(bwf.shape[0], x0)
    lo = np.minimum(bwf.min(1), -bwr.max(1)) - 1.0
    hi = np.maximum(bwf.max(1), -bwr.min(1)) + 1.0
    for _ in range(iters):
        a = special.expit(-(bwf - x[:, None] + M))
        c = special.expit(-(bwr + x[:, None] - M))
        g = a.sum(1) - c.sum(1)
        dg = (a * (1 - a)).sum(1) + (c * (1 - c)).sum(1)
        lo = np.where(g < 0, x, lo)
        hi = np.where(g > 0, x, hi)
        step = g / np.maximum(dg, 1e-300)
        xn = x - step
        bad = (xn <= lo) | (xn >= hi) | ~np.isfinite(xn)
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        if np.all(np.abs(xn - x) < 1e-12 * (1 + np.abs(x))):
            return xn
        x = xn
    return x


def bar(
    work_forward: Any,
    work_reverse: Any,
    kBT: float = 1.0,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BARResult:
    """Bennett acceptance ratio ΔF from forward and reverse work (Bennett 1976; Shirts et al. 2003).

    Solves ``Σ_F f(β(W_F - ΔF) + M) = Σ_R f(β(W_R + ΔF) - M)``, f(x) = 1/(1 + e^x),
    M = ln(N_F/N_R), with Brent's method (SciPy). Asymptotic variance (Shirts et al. 2003)::

        Var(βΔF) = (1/N) [ ⟨1/(2 + 2 cosh(M + βw - βΔF))⟩⁻¹ - (N/N_F + N/N_R) ]

    with the average over all N = N_F + N_R values w ∈ {W_F} ∪ {-W_R}.

    Warning criterion: a :class:`SamplingWarning` when the acceptance count ``n_accept`` (the value
    of either side of the BAR equation at the solution) is below 10: the overlap of the forward and
    reverse work distributions is then carried by fewer than ~10 samples and the asymptotic
    variance is unreliable.

    Args:
        work_forward: (N_F,) forward work; work_reverse: (N_R,) reverse work (energy).
        kBT: temperature (energy), > 0.
        n_boot, seed, confidence: bootstrap settings.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> wf, wr = rng.normal(1.5, np.sqrt(2.0), 5000), rng.normal(0.5, np.sqrt(2.0), 5000)  # ΔF = 0.5
        >>> r = bar(wf, wr, 1.0, n_boot=100, seed=1)
        >>> abs(r.value - 0.5) < 5 * r.stderr, r.ci[0] < r.value < r.ci[1]
        (True, True)
    """
    wf = _work(work_forward, "work_forward")
    wr = _work(work_reverse, "work_reverse")
    kt = positive_float(kBT, "kBT")
    n_boot, conf, rng = _boot_args(n_boot, confidence, seed)
    beta = 1.0 / kt
    bwf, bwr = beta * wf, beta * wr
    x = _bar_solve(bwf, bwr)
    nf, nr = wf.size, wr.size
    N = nf + nr
    M = math.log(nf / nr)
    allw = np.concatenate([bwf, -bwr])
    z = M + allw - x
    # 1/(2 + 2 cosh z) = expit(z) expit(-z), stable
    avg = float(np.mean(special.expit(z) * special.expit(-z)))
    var = (1.0 / N) * (1.0 / avg - (N / nf + N / nr)) if avg > 0 else math.inf
    stderr = kt * math.sqrt(max(var, 0.0))
    n_acc = float(np.sum(special.expit(-(bwf - x + M))))
    msgs: list[str] = []
    if n_acc < 10:
        _warn(
            msgs,
            f"bar: the BAR acceptance count is {n_acc:.3g} < 10: forward and reverse work distributions "
            f"barely overlap for N_F={nf}, N_R={nr}; ΔF and its asymptotic error are unreliable",
        )
    boots = np.full(n_boot, np.nan)
    per = max(1, _CHUNK // N)
    for i in range(0, n_boot, per):
        m = min(per, n_boot - i)
        bf = bwf[rng.integers(0, nf, size=(m, nf))]
        br = bwr[rng.integers(0, nr, size=(m, nr))]
        boots[i : i + m] = _bar_solve_vec(bf, br, x) * kt
    return BARResult(
        value=float(x * kt),
        ci=_ci(boots, conf),
        stderr=stderr,
        bootstrap_stderr=float(boots.std(ddof=1)) if n_boot > 1 else math.nan,
        n_accept=n_acc,
        kBT=kt,
        warnings=tuple(msgs),
    )
