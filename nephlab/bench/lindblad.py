"""Lindblad benchmark: nephlab, QuTiP 5 and dynamiqs side by side on one problem.

The problem is a driven Kerr oscillator truncated to ``n`` levels::

    H   = a†a + F (a + a†) + 0.05 a†a†aa,   F = 0.5
    L   = sqrt(0.1) a
    rho0 = |0><0|,   t in [0, 10] with 101 saved points,   e_ops = [a†a]
    rtol = 1e-6, atol = 1e-8, states not stored

Rows are truncations ``n`` (default 10, 20, 50, 100) and a batch row: 100 problems
with ``n = 10`` over ``F = linspace(0.1, 1, 100)``. nephlab and dynamiqs get the
batch as one ``H`` of shape ``(100, n, n)`` in one call; QuTiP loops over the 100
problems in Python ("loop" in the table).

For every row and code the harness measures the first call (for the JAX codes this
includes tracing and compilation, because every row is a shape not seen before in
the process) and then the median of R repeated calls, each blocked until its
results are ready. It reports nephlab / fastest peer, and the agreement of
<a†a>(t=10) between nephlab and each peer.

Run ``python benchmarks/lindblad.py --help`` (or ``main(["--help"])``) for options.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# ---------------------------------------------------------------------------------
# The problem
# ---------------------------------------------------------------------------------

OMEGA = 1.0  # a†a
F_DEFAULT = 0.5  # drive F (a + a†)
KERR = 0.05  # a†a†aa
KAPPA = 0.1  # L = sqrt(kappa) a
T_END = 10.0
N_SAVE = 101
RTOL = 1e-6
ATOL = 1e-8
BATCH_F = (0.1, 1.0)  # batch rows: F = linspace(0.1, 1, B)

CODES = ("nephlab", "qutip", "dynamiqs")
PEERS = ("qutip", "dynamiqs")
DEFAULT_ROWS = "10,20,50,100,batch"
GPU_ROWS = "batch1000x10,100,200"
AGREEMENT_TOL = 1e-6  # flag |nephlab - peer| above this
SLOW_RATIO = 2.0  # flag nephlab slower than 1/2 of the fastest peer


@dataclass(frozen=True)
class Row:
    """One row of the table: truncation ``n``; ``batch`` problems (None = a single one)."""

    n: int
    batch: int | None = None

    @property
    def label(self) -> str:
        return f"n={self.n}" if self.batch is None else f"batch {self.batch}×(n={self.n})"

    @property
    def key(self) -> str:
        return str(self.n) if self.batch is None else f"batch{self.batch}x{self.n}"


@dataclass
class Problem:
    row: Row
    H: np.ndarray  # (n, n) or (B, n, n), complex128
    L: np.ndarray  # (n, n)
    rho0: np.ndarray  # (n, n)
    tlist: np.ndarray  # (N_SAVE,)
    num: np.ndarray  # a†a
    F: np.ndarray  # drive amplitude(s), shape () or (B,)


def parse_rows(spec: str) -> list[Row]:
    """Parse ``"10,20,batch,batch1000x10"`` into rows (duplicates dropped, order kept).

    ``batch`` means 100 problems with n = 10; ``batch<B>x<n>`` is B problems of size n.
    """
    rows: list[Row] = []
    for tok in spec.split(","):
        tok = tok.strip().lower()
        if not tok:
            continue
        if tok == "batch":
            row = Row(n=10, batch=100)
        elif tok.startswith("batch"):
            body = tok[len("batch") :]
            try:
                b, n = (int(x) for x in body.split("x"))
            except ValueError:
                raise ValueError(f"bad row {tok!r}: use 'batch' or 'batch<B>x<n>', e.g. batch1000x10") from None
            row = Row(n=n, batch=b)
        else:
            try:
                row = Row(n=int(tok))
            except ValueError:
                raise ValueError(f"bad row {tok!r}: use an integer n, 'batch' or 'batch<B>x<n>'") from None
        if row.n < 2 or (row.batch is not None and row.batch < 1):
            raise ValueError(f"bad row {tok!r}: need n >= 2 and B >= 1")
        if row not in rows:
            rows.append(row)
    if not rows:
        raise ValueError("no rows given")
    return rows


def build_problem(row: Row) -> Problem:
    """Operators as plain complex128 numpy arrays (no dependence on the rest of nephlab)."""
    n = row.n
    a = np.diag(np.sqrt(np.arange(1, n, dtype=np.float64)), 1).astype(np.complex128)
    ad = a.conj().T
    num = ad @ a
    kerr = ad @ ad @ a @ a
    drive = a + ad
    if row.batch is None:
        F = np.asarray(F_DEFAULT)
        H = OMEGA * num + F_DEFAULT * drive + KERR * kerr
    else:
        F = np.linspace(BATCH_F[0], BATCH_F[1], row.batch)
        H = OMEGA * num[None] + F[:, None, None] * drive[None] + KERR * kerr[None]
    L = math.sqrt(KAPPA) * a
    rho0 = np.zeros((n, n), dtype=np.complex128)
    rho0[0, 0] = 1.0
    tlist = np.linspace(0.0, T_END, N_SAVE)
    return Problem(row, np.ascontiguousarray(H), L, rho0, tlist, num, F)


# ---------------------------------------------------------------------------------
# The codes
# ---------------------------------------------------------------------------------


def _block(tree: Any) -> Any:
    """Wait for every JAX array in ``tree`` (lists/tuples/dicts); other leaves pass."""
    if isinstance(tree, (list, tuple)):
        for x in tree:
            _block(x)
    elif isinstance(tree, dict):
        for x in tree.values():
            _block(x)
    elif hasattr(tree, "block_until_ready"):
        tree.block_until_ready()
    return tree


def _jsonable(x: Any) -> Any:
    """Best-effort conversion of stats/info values to JSON-friendly Python objects."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, bool, int, float)) or x is None:
        return x
    try:
        arr = np.asarray(x)
    except Exception:
        return str(x)
    if arr.dtype == object:
        return str(x)
    if arr.ndim == 0:
        v = arr.item()
        return v if isinstance(v, (bool, int, float)) else str(v)
    if arr.size > 64:  # keep the JSON small: summarise big arrays
        return {"shape": list(arr.shape), "min": float(arr.min()), "max": float(arr.max())}
    return arr.tolist()


class Code:
    """A solver under test. ``call`` runs one solve and blocks until it is done."""

    name = "?"

    def __init__(self, method: str | None = None, rtol: float = RTOL, atol: float = ATOL) -> None:
        self.available = False
        self.version: str | None = None
        self.why_unavailable: str | None = None
        self.method = method  # None: the code's default (nephlab auto, QuTiP adams, dynamiqs Tsit5)
        self.rtol, self.atol = rtol, atol

    def setup(self) -> None:  # import and configure; sets available/version
        raise NotImplementedError

    def prepare(self, p: Problem) -> Callable[[], Any]:
        """Return a zero-argument function doing one full solve (inputs built beforehand)."""
        raise NotImplementedError

    def final_values(self, out: Any, p: Problem) -> np.ndarray:
        """<a†a>(t=10) as a real array of shape (B,) (B = 1 for a single problem)."""
        raise NotImplementedError

    def info(self, out: Any) -> dict:
        return {}


class NephlabCode(Code):
    name = "nephlab"

    def setup(self) -> None:
        try:
            import nephlab
        except Exception as err:  # pragma: no cover - nephlab is the package itself
            self.why_unavailable = f"import nephlab failed: {err}"
            return
        mesolve = getattr(nephlab, "mesolve", None)
        if mesolve is None:
            self.why_unavailable = "nephlab.mesolve does not exist (yet)"
            return
        self._mesolve = mesolve
        self.version = getattr(nephlab, "__version__", None) or "dev"
        self.available = True

    def prepare(self, p: Problem) -> Callable[[], Any]:
        mesolve = self._mesolve

        def call():
            res = mesolve(
                p.H,
                p.rho0,
                p.tlist,
                [p.L],
                e_ops=[p.num],
                rtol=self.rtol,
                atol=self.atol,
                method=self.method or "auto",
                store_states=False,
            )
            _block(res.expect)
            return res

        return call

    def final_values(self, out: Any, p: Problem) -> np.ndarray:
        e = np.asarray(out.expect[0])
        return np.real(e[..., -1]).reshape(-1)

    def info(self, out: Any) -> dict:
        stats = dict(getattr(out, "stats", {}) or {})
        return {"method": getattr(out, "method", None), "stats": _jsonable(stats)}


# QuTiP 5 keeps operators built with qutip.destroy & co. in its sparse "Dia" format.
# A Qobj made from a numpy array is "Dense", and QuTiP's mesolve on Dense operators
# goes through multithreaded BLAS and was 10-100x slower (and erratic) on a loaded
# 2-core machine, so the harness hands QuTiP its natural sparse format.
QUTIP_FORMAT = "Dia"


class QutipCode(Code):
    name = "qutip"

    def setup(self) -> None:
        try:
            import qutip
        except Exception as err:
            self.why_unavailable = f"qutip not importable: {err}"
            return
        self._qt = qutip
        self.version = qutip.__version__
        self.available = True

    def prepare(self, p: Problem) -> Callable[[], Any]:
        qt = self._qt

        def Q(x):  # QuTiP's own format for these operators (what qutip.destroy(n) gives)
            return qt.Qobj(x).to(QUTIP_FORMAT)

        Hs = [Q(p.H)] if p.row.batch is None else [Q(h) for h in p.H]
        rho0, L, num = Q(p.rho0), Q(p.L), Q(p.num)
        options = {"store_states": False, "atol": self.atol, "rtol": self.rtol, "method": self.method or "adams"}
        tlist = p.tlist

        def call():  # the batch row is a Python loop over the problems
            return [qt.mesolve(H, rho0, tlist, [L], e_ops=[num], options=options) for H in Hs]

        return call

    def final_values(self, out: Any, p: Problem) -> np.ndarray:
        return np.array([np.real(r.expect[0][-1]) for r in out], dtype=np.float64)

    def info(self, out: Any) -> dict:
        stats = getattr(out[0], "stats", {}) or {}
        return {"method": stats.get("method"), "loop": len(out)}


class DynamiqsCode(Code):
    name = "dynamiqs"

    def setup(self) -> None:
        try:
            import dynamiqs as dq
        except Exception as err:
            self.why_unavailable = f"dynamiqs not importable: {err}"
            return
        dq.set_precision("double")
        self._dq = dq
        self.version = dq.__version__
        self.available = True

    def prepare(self, p: Problem) -> Callable[[], Any]:
        dq = self._dq
        method = getattr(dq.method, self.method or "Tsit5")(rtol=self.rtol, atol=self.atol)

        def call():  # a batched H (B, n, n) is vectorised by dynamiqs itself
            res = dq.mesolve(
                p.H,
                [p.L],
                p.rho0,
                p.tlist,
                exp_ops=[p.num],
                method=method,
                save_states=False,
                progress_meter=False,
            )
            _block(res.expects)
            return res

        return call

    def final_values(self, out: Any, p: Problem) -> np.ndarray:
        e = np.asarray(out.expects)  # (..., n_exp, T)
        return np.real(e[..., 0, -1]).reshape(-1)

    def info(self, out: Any) -> dict:
        infos = getattr(out, "infos", None)
        d: dict = {"method": self.method or "Tsit5"}
        for k in ("nsteps", "naccepted", "nrejected"):
            if hasattr(infos, k):
                d[k] = _jsonable(getattr(infos, k))
        return d


# ---------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------


def _auto_repeats(first_repeat_s: float) -> int:
    """Default R, the same rule for every code: enough calls to fill about 0.25 s (at least 5, at
    most 101), so that the median of a call of a few milliseconds is not set by one or two
    hiccups of the machine; 3 when a call takes over 1 s, 1 over 5 s.

    Example:
        >>> _auto_repeats(0.008), _auto_repeats(0.018), _auto_repeats(0.2), _auto_repeats(2.0)
        (32, 14, 5, 3)
    """
    if first_repeat_s < 1.0:
        return max(5, min(101, math.ceil(0.25 / max(first_repeat_s, 1e-9))))
    if first_repeat_s < 5.0:
        return 3
    return 1


@dataclass
class Cell:
    """Measurements of one code on one row."""

    status: str = "ok"  # ok | n/a | error
    first_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    median_s: float | None = None
    final: list[float] | None = None
    info: dict = field(default_factory=dict)
    error: str | None = None


def measure(code: Code, p: Problem, repeats: int | None) -> Cell:
    if not code.available:
        return Cell(status="n/a", error=code.why_unavailable)
    try:
        fn = code.prepare(p)
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
        cell = Cell(first_s=first)
        cell.final = code.final_values(out, p).tolist()
        cell.info = code.info(out)
        del out
        target = repeats
        # Back-to-back calls with the garbage collector off, as timeit does: a collection (or
        # any idle gap) between calls lets the CPU and the thread pools go cold and adds up to
        # a millisecond to the next call of every code, which swamps the small rows.
        gc.collect()
        gc.disable()
        try:
            while target is None or len(cell.times_s) < target:
                t0 = time.perf_counter()
                fn()
                cell.times_s.append(time.perf_counter() - t0)
                if target is None:
                    target = _auto_repeats(cell.times_s[0])
        finally:
            gc.enable()
        cell.median_s = statistics.median(cell.times_s) if cell.times_s else None
        return cell
    except Exception as err:  # keep the run going; report the failure in the table
        return Cell(status="error", error=f"{type(err).__name__}: {err}\n{traceback.format_exc()}")


def compare(neph: Cell, peer: Cell) -> dict | None:
    """max |nephlab - peer| and max relative difference of <a†a>(t=10) over the batch."""
    if neph.final is None or peer.final is None:
        return None
    x, y = np.asarray(neph.final), np.asarray(peer.final)
    if x.shape != y.shape:
        return {"abs": float("nan"), "rel": float("nan"), "note": f"shapes {x.shape} vs {y.shape}"}
    d = np.abs(x - y)
    return {"abs": float(d.max()), "rel": float((d / np.maximum(np.abs(y), 1e-300)).max())}


# ---------------------------------------------------------------------------------
# Machine facts
# ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_facts(codes: dict[str, Code]) -> dict:
    import jax

    dev = jax.config.jax_default_device or jax.devices()[0]
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "diffrax": _version("diffrax"),
        "qutip": codes["qutip"].version,
        "dynamiqs": codes["dynamiqs"].version,
        "nephlab": codes["nephlab"].version,
        "jax_backend": jax.default_backend(),
        "jax_device": f"{dev.platform}:{dev.id}"
        + (f" ({dev.device_kind})" if dev.platform != "cpu" else ""),
        "jax_x64": bool(jax.config.jax_enable_x64),
        "jax_persistent_cache": jax.config.jax_compilation_cache_dir,
        "NEPHLAB_DEVICE": os.environ.get("NEPHLAB_DEVICE"),
        "loadavg_start": _loadavg(),
    }
    try:
        import nephlab

        if hasattr(nephlab, "device_name"):
            facts["nephlab_device"] = nephlab.device_name()
    except Exception:
        pass
    return facts


# ---------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------


def _ms(s: float | None) -> str:
    if s is None:
        return "n/a"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _cell_ms(cell: Cell, loop: bool = False) -> str:
    if cell.status == "n/a":
        return "n/a"
    if cell.status == "error":
        return "error"
    return _ms(cell.median_s) + (" (loop)" if loop else "")


def _count(steps: Any) -> str:
    """A step count, or its range over a batch ("42–125")."""
    if steps is None:
        return "?"
    if isinstance(steps, dict):  # a big array summarised by _jsonable
        lo, hi = steps.get("min"), steps.get("max")
    elif isinstance(steps, list):
        flat = np.asarray(steps).reshape(-1)
        lo, hi = flat.min(), flat.max()
    else:
        return str(steps)
    lo, hi = int(lo), int(hi)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _steps(info: dict) -> str:
    return _count((info.get("stats") or {}).get("steps"))


def table_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = [
        "row",
        "nephlab ms",
        "qutip ms",
        "dynamiqs ms",
        "nephlab/fastest",
        "nephlab 1st ms",
        "dynamiqs 1st ms",
        "|Δ| qutip (rel)",
        "|Δ| dynamiqs (rel)",
        "method",
        "steps",
        "dynamiqs steps",
    ]
    body = []
    for r in results:
        cells: dict[str, Cell] = r["cells"]
        row: Row = r["row"]
        ratio = r.get("ratio")
        ratio_s = "n/a" if ratio is None else f"{ratio:.2f} ({r['fastest_peer']})"
        agree = []
        for peer in PEERS:
            c = r["agreement"].get(peer)
            agree.append("n/a" if c is None else f"{c['abs']:.1e} ({c['rel']:.0e})")
        neph = cells["nephlab"]
        body.append(
            [
                row.label,
                _cell_ms(neph),
                _cell_ms(cells["qutip"], loop=row.batch is not None),
                _cell_ms(cells["dynamiqs"]),
                ratio_s,
                _ms(neph.first_s) if neph.status == "ok" else neph.status,
                _ms(cells["dynamiqs"].first_s) if cells["dynamiqs"].status == "ok" else cells["dynamiqs"].status,
                *agree,
                str(neph.info.get("method", "?")) if neph.status == "ok" else "-",
                _steps(neph.info) if neph.status == "ok" else "-",
                _count(cells["dynamiqs"].info.get("nsteps")) if cells["dynamiqs"].status == "ok" else "-",
            ]
        )
    return head, body


def format_text(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(b, widths)))
    return "\n".join(lines)


def format_markdown(head: list[str], body: list[list[str]]) -> str:
    esc = [h.replace("|", "\\|") for h in head]
    lines = ["| " + " | ".join(esc) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for b in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in b) + " |")
    return "\n".join(lines)


def facts_lines(facts: dict) -> list[str]:
    cores = f"{facts['cores']}" + (
        f" ({facts['cores_usable']} usable)"
        if facts["cores_usable"] not in (None, facts["cores"])
        else ""
    )
    load = facts.get("loadavg_start")
    load_s = "" if load is None else f", load average {load[0]:g}/{load[1]:g}/{load[2]:g} at start"
    return [
        f"machine: {facts['cpu']}, {cores} cores, {facts['platform']}{load_s}",
        f"python {facts['python']}, numpy {facts['numpy']}, scipy {facts['scipy']}, "
        f"jax {facts['jax']} (jaxlib {facts['jaxlib']}), diffrax {facts['diffrax']}, "
        f"qutip {facts['qutip'] or 'n/a'}, dynamiqs {facts['dynamiqs'] or 'n/a'}, "
        f"nephlab {facts['nephlab'] or 'n/a'}",
        f"jax backend {facts['jax_backend']}, default device {facts['jax_device']}, "
        f"x64 {facts['jax_x64']}, persistent compile cache {facts['jax_persistent_cache'] or 'off'}"
        + (f", nephlab device {facts['nephlab_device']}" if "nephlab_device" in facts else ""),
    ]


def problem_lines(repeats: int | None, args: argparse.Namespace | None = None) -> list[str]:
    rep = f"R = {repeats}" if repeats is not None else "R = the calls that fill 0.25 s, 5 to 101 (3 if a call takes > 1 s, 1 if > 5 s)"
    a = args if args is not None else _parser(None).parse_args([])
    return [
        "problem: H = a†a + F(a + a†) + 0.05 a†a†aa (F = 0.5; batch: F = linspace(0.1, 1, B)), "
        f"L = √0.1 a, ρ0 = |0⟩⟨0|, t ∈ [0, 10] (101 points), e_ops = [a†a], rtol {a.rtol:g}, atol {a.atol:g}, "
        "no states stored",
        f"codes: nephlab mesolve(method={a.method!r}); QuTiP mesolve ({a.qutip_method}, {QUTIP_FORMAT} operators, "
        "batch = Python loop); "
        f"dynamiqs mesolve {a.dynamiqs_method} (batch = batched H)",
        f"times: median of {rep} calls after a first call (first call includes JAX compilation "
        "for this shape); nephlab/fastest = nephlab median / fastest peer median; "
        "|Δ| = max over the batch of |⟨a†a⟩(10)_nephlab − ⟨a†a⟩(10)_peer| (relative in brackets); "
        "method and steps: what nephlab's method='auto' chose, and its steps",
    ]


def flags(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        label = r["row"].label
        for peer, c in r["agreement"].items():
            if c is not None and not (c["abs"] <= AGREEMENT_TOL):
                out.append(f"{label}: nephlab and {peer} differ by {c['abs']:.2e} > {AGREEMENT_TOL:g} in ⟨a†a⟩(10)")
        ratio = r.get("ratio")
        if ratio is not None and ratio > SLOW_RATIO:
            out.append(
                f"{label}: nephlab is {ratio:.2f}× the time of {r['fastest_peer']} "
                f"(slower than 1/{SLOW_RATIO:g} of the fastest peer)"
            )
        for name, cell in r["cells"].items():
            if cell.status == "error":
                out.append(f"{label}: {name} failed: {cell.error.splitlines()[0]}")
    return out


# ---------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------


def _parser(prog: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Lindblad benchmark: nephlab vs QuTiP 5 vs dynamiqs on a driven Kerr oscillator. "
        "--family mcsolve|gradient|spectrum|first_call runs the quantum-jump, gradient, spectrum or "
        "fresh-process first-call benchmark instead "
        "(each with its own options: --family NAME --help).",
    )
    ap.add_argument(
        "--rows",
        default=None,
        help=f"comma-separated rows: n values, 'batch' (100 × n=10) or 'batch<B>x<n>' (default {DEFAULT_ROWS})",
    )
    ap.add_argument(
        "--gpu-rows",
        action="store_true",
        help=f"GPU preset: rows {GPU_ROWS} and --device gpu unless --device is given",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per code and row after the first (default: 5; 3 if a call takes > 1 s, 1 if > 5 s)",
    )
    ap.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default=None,
        help="run the JAX codes (nephlab, dynamiqs) on this device (sets NEPHLAB_DEVICE and JAX's default device)",
    )
    ap.add_argument(
        "--codes",
        default=",".join(CODES),
        help="comma-separated subset of codes to run (default: all); skipped codes show 'n/a'",
    )
    ap.add_argument("--method", default="auto", help="nephlab's method, e.g. tsit5 or dop853 (default auto)")
    ap.add_argument("--qutip-method", default="adams", help="QuTiP's integrator, e.g. vern7, vern9, dop853 (default adams)")
    ap.add_argument("--dynamiqs-method", default="Tsit5",
                    help="dynamiqs' method class in dynamiqs.method, e.g. Dopri8 (default Tsit5)")
    ap.add_argument("--rtol", type=float, default=RTOL, help=f"relative tolerance of every code (default {RTOL})")
    ap.add_argument("--atol", type=float, default=ATOL, help=f"absolute tolerance of every code (default {ATOL})")
    ap.add_argument("--json", metavar="PATH", default=None, help="write the raw numbers to PATH as JSON")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table (for benchmarks/RESULTS.md)")
    return ap


FAMILIES = ("mesolve", "mcsolve", "gradient", "spectrum", "first_call")
"""``--family``: ``mesolve`` is this module's table; the others run :mod:`nephlab.bench.mcsolve`
(1000 quantum-jump trajectories vs QuTiP and dynamiqs), :mod:`nephlab.bench.gradient` (∂⟨a†a⟩(T)/∂(F, κ)
vs dynamiqs), :mod:`nephlab.bench.spectrum` (spectrum and correlations vs QuTiP) and
:mod:`nephlab.bench.first_call` (the first call of a fresh process, cold and warm compilation
cache, vs QuTiP and dynamiqs), each with its own options (``--family mcsolve --help``)."""


def _split_family(argv: list[str]) -> tuple[str, list[str]]:
    """Take ``--family NAME`` / ``--family=NAME`` out of ``argv``; the rest goes to that family."""
    family, rest, i = "mesolve", [], 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--family" and i + 1 < len(argv):
            family, i = argv[i + 1], i + 2
            continue
        if tok.startswith("--family="):
            family = tok.split("=", 1)[1]
        else:
            rest.append(tok)
        i += 1
    return family, rest


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark; ``argv`` excludes the program name. Returns an exit status.

    ``--family mcsolve|gradient|spectrum|first_call`` runs that family's benchmark instead of the mesolve
    table (see :data:`FAMILIES`); every other argument goes to it.
    """
    family, argv = _split_family(list(sys.argv[1:] if argv is None else argv))
    if family not in FAMILIES:
        print(f"--family {family!r}: expected one of {', '.join(FAMILIES)}", file=sys.stderr)
        return 2
    if family != "mesolve":
        import importlib

        sub = importlib.import_module(f"nephlab.bench.{family}")
        return int(sub.main(argv, prog=f"{prog or 'nephlab bench lindblad'} --family {family}") or 0)
    args = _parser(prog).parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        print("--repeats must be >= 1", file=sys.stderr)
        return 2
    try:
        rows = parse_rows(args.rows or (GPU_ROWS if args.gpu_rows else DEFAULT_ROWS))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    wanted = {c.strip().lower() for c in args.codes.split(",") if c.strip()}
    unknown = wanted - set(CODES)
    if unknown:
        print(f"unknown codes {sorted(unknown)}; known: {', '.join(CODES)}", file=sys.stderr)
        return 2
    device = args.device or ("gpu" if args.gpu_rows else None)

    import jax

    old_env = os.environ.get("NEPHLAB_DEVICE")
    old_default = jax.config.jax_default_device
    try:
        if device is not None:
            try:
                dev = jax.devices(device)[0]
            except RuntimeError as err:
                print(f"--device {device}: JAX finds no {device} device ({err})", file=sys.stderr)
                return 2
            os.environ["NEPHLAB_DEVICE"] = device
            jax.config.update("jax_default_device", dev)
        return _run(args, rows, wanted)
    finally:
        if device is not None:
            if old_env is None:
                os.environ.pop("NEPHLAB_DEVICE", None)
            else:
                os.environ["NEPHLAB_DEVICE"] = old_env
            jax.config.update("jax_default_device", old_default)


def _run(args: argparse.Namespace, rows: list[Row], wanted: set[str]) -> int:
    import jax
    import jax.numpy as jnp

    tol = dict(rtol=args.rtol, atol=args.atol)
    codes: dict[str, Code] = {"nephlab": NephlabCode(args.method, **tol), "qutip": QutipCode(args.qutip_method, **tol),
                              "dynamiqs": DynamiqsCode(args.dynamiqs_method, **tol)}
    for name, code in codes.items():
        if name in wanted:
            code.setup()
        else:
            code.why_unavailable = "not selected (--codes)"
    if "nephlab" in wanted and not codes["nephlab"].available:
        print(f"nephlab: {codes['nephlab'].why_unavailable}", file=sys.stderr)
        return 1

    # Start the JAX backend outside the timings, so no code's first call pays for it.
    jax.block_until_ready(jax.jit(lambda x: x * 2.0 + 1.0)(jnp.ones(4, dtype=jnp.complex128)))

    facts = machine_facts(codes)
    header = facts_lines(facts) + problem_lines(args.repeats, args)
    for line in header:
        print(line)
    for name, code in codes.items():
        if not code.available and name in wanted:
            print(f"note: {name} n/a ({code.why_unavailable})")
    print(flush=True)

    results: list[dict] = []
    for row in rows:
        p = build_problem(row)
        cells: dict[str, Cell] = {}
        for name in CODES:  # nephlab first: its first call is on a fresh shape
            print(f"  {row.label}: {name} ...", end="", flush=True)
            cells[name] = measure(codes[name], p, args.repeats)
            c = cells[name]
            if c.status == "ok":
                print(
                    f" first {_ms(c.first_s)} ms, median {_ms(c.median_s)} ms over {len(c.times_s)}",
                    flush=True,
                )
            else:
                print(f" {c.status}" + (f": {c.error.splitlines()[0]}" if c.error else ""), flush=True)
                if c.status == "error" and name == "nephlab":
                    print(c.error, file=sys.stderr)
        peer_medians = {k: cells[k].median_s for k in PEERS if cells[k].median_s is not None}
        r: dict[str, Any] = {"row": row, "cells": cells, "agreement": {}}
        if peer_medians and cells["nephlab"].median_s is not None:
            fastest = min(peer_medians, key=peer_medians.get)
            r["fastest_peer"] = fastest
            r["ratio"] = cells["nephlab"].median_s / peer_medians[fastest]
        for peer in PEERS:
            r["agreement"][peer] = compare(cells["nephlab"], cells[peer])
        r["peer_agreement"] = compare(cells["qutip"], cells["dynamiqs"])
        results.append(r)

    facts["loadavg_end"] = _loadavg()
    head, body = table_rows(results)
    print()
    print(format_text(head, body))
    notes = flags(results)
    end_load = facts["loadavg_end"]
    end_line = None if end_load is None else "load average at end: " + "/".join(f"{x:g}" for x in end_load)
    if end_line:
        print(end_line)
    print()
    if notes:
        for note in notes:
            print(f"FLAG {note}")
    else:
        print(f"no flags: all agreements <= {AGREEMENT_TOL:g}, nephlab within {SLOW_RATIO:g}× of the fastest peer")
    if args.markdown:
        print()
        print("```markdown")
        for line in header:
            print(f"- {line}")
        print()
        print(format_markdown(head, body))
        if end_line:
            print()
            print(f"- {end_line}")
        if notes:
            print()
            for note in notes:
                print(f"- flag: {note}")
        print("```")

    if args.json:
        payload = {
            "benchmark": "lindblad",
            "args": vars(args),
            "facts": facts,
            "problem": {
                "H": "a†a + F(a + a†) + 0.05 a†a†aa",
                "F": F_DEFAULT,
                "batch_F": list(BATCH_F),
                "kappa": KAPPA,
                "t_end": T_END,
                "n_save": N_SAVE,
                "rtol": args.rtol,
                "atol": args.atol,
            },
            "rows": [
                {
                    "row": r["row"].key,
                    "label": r["row"].label,
                    "n": r["row"].n,
                    "batch": r["row"].batch,
                    "codes": {
                        name: {
                            "status": c.status,
                            "first_s": c.first_s,
                            "median_s": c.median_s,
                            "times_s": c.times_s,
                            "min_s": min(c.times_s) if c.times_s else None,
                            "repeats": len(c.times_s),
                            "final_expect": c.final,
                            "info": _jsonable(c.info),
                            "error": c.error,
                        }
                        for name, c in r["cells"].items()
                    },
                    "fastest_peer": r.get("fastest_peer"),
                    "ratio_nephlab_over_fastest": r.get("ratio"),
                    "agreement": r["agreement"],
                    "agreement_qutip_dynamiqs": r["peer_agreement"],
                }
                for r in results
            ],
            "flags": notes,
        }
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2, default=str)
        except OSError as err:
            print(f"could not write {args.json}: {err}", file=sys.stderr)
            return 1
        print(f"wrote {args.json}")

    failed = any(r["cells"]["nephlab"].status == "error" for r in results)
    return 1 if failed else 0
