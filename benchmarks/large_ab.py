"""Interleaved A/B of ``nephlab bench large`` rows: two nephlab trees and dynamiqs, round by round.

On a shared machine the load drifts by more than the differences between two versions, so each
round runs every variant once, one right after the other, each in a fresh process (this script's
worker: the solve of ``nephlab.bench.large._call`` of whichever nephlab the process imports, a
first call with compilation, then ``--repeat`` warm calls, median):

* ``main``: nephlab-sparse from the tree given by ``--main`` (a directory holding ``nephlab/``,
  e.g. ``git archive main nephlab | tar -x -C /tmp/main``), put first on ``PYTHONPATH``;
* ``this``: nephlab-sparse as the running Python imports it;
* ``dynamiqs-dia``: the peer's adaptive solve (its fastest on this problem), in the same round.

Per (M, solve) it prints the per-round warm times, their medians, the ratio this/main of the
medians and the ratio of each nephlab variant to dynamiqs of the same round (median over rounds),
and the 1-minute load average before each round; ``--cpu`` compares the warm calls' CPU time of
the process (``time.process_time``, all threads) instead of wall time, which a loaded machine
inflates less (XLA's worker threads count in it too, so it can exceed the wall time). The rk4
row is nephlab only; its ratio is to dynamiqs' adaptive solve, as in ``nephlab bench large``.

    python benchmarks/large_ab.py --main /tmp/main --rounds 3 --repeat 5 --cpu
    python benchmarks/large_ab.py --main /tmp/main --drive --solves adaptive
    python benchmarks/large_ab.py --main /tmp/main --sizes 6 --solves rk4,adaptive --repeat 1 --no-peer
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys


def worker(code: str, M: int, solve: str, repeat: int, drive: bool) -> dict:
    """First call, then ``repeat`` warm calls of :func:`nephlab.bench.large._call` (whichever
    nephlab this process imports): wall and CPU seconds (medians of the warm calls)."""
    import time

    from nephlab.bench.large import _call

    f = _call(code, M, solve, drive=drive)
    t0 = time.perf_counter()
    value, counts = f()
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"first_s": first, "warm_s": statistics.median(wall), "warm_cpu_s": statistics.median(cpu),
            "n0_final": value, **counts}


def run_worker(code: str, M: int, solve: str, repeat: int, drive: bool, tree: str | None, timeout: float) -> dict:
    """:func:`worker` in a fresh process; ``tree`` first on PYTHONPATH."""
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", json.dumps([code, M, solve, repeat, drive])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{code} ({tree or 'this'}) failed: {proc.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--main", default=None, help="directory holding the baseline tree's nephlab/ package (required)")
    ap.add_argument("--sizes", default="4", help="comma-separated M (D = 3^M); default 4")
    ap.add_argument("--solves", default="rk4,adaptive", help="rk4, adaptive or both")
    ap.add_argument("--drive", action="store_true", help="the driven lattice (time-dependent H)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--repeat", type=int, default=5, help="warm calls per process (median); default 5")
    ap.add_argument("--no-peer", action="store_true", help="skip dynamiqs (e.g. at M = 6)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    ap.add_argument("--cpu", action="store_true", help="compare CPU time of the warm calls instead of wall time")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._worker:
        print(json.dumps(worker(*json.loads(a._worker))), flush=True)
        return 0
    key = "warm_cpu_s" if a.cpu else "warm_s"
    if not a.main or not os.path.isdir(os.path.join(a.main, "nephlab")):
        raise SystemExit(f"--main {a.main!r} holds no nephlab/ package")
    sizes = [int(s) for s in a.sizes.split(",") if s]
    solves = [s for s in a.solves.split(",") if s]
    variants = [("main", "nephlab-sparse", a.main), ("this", "nephlab-sparse", None)]
    warm: dict = {}
    loads = []
    for r in range(a.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for M in sizes:
            peer = None
            if not a.no_peer:
                peer = run_worker("dynamiqs-dia", M, "adaptive", a.repeat, a.drive, None, a.timeout)[key]
                warm.setdefault((M, "peer"), []).append(peer)
            for solve in solves:
                for name, code, tree in variants:
                    row = run_worker(code, M, solve, a.repeat, a.drive, tree, a.timeout)
                    warm.setdefault((M, solve, name), []).append(row[key])
                    warm.setdefault((M, solve, name, "n0"), []).append(row["n0_final"])
                    print(json.dumps({"round": r, "M": M, "solve": solve, "variant": name, "warm_s": row["warm_s"],
                                      "warm_cpu_s": row["warm_cpu_s"], "first_s": row["first_s"], "dynamiqs_warm_s": peer, "n0": row["n0_final"],
                                      "steps": row.get("steps"), "load": loads[-1]}), flush=True)
    what = "CPU" if a.cpu else "wall"
    print(f"\nload average before each round: {loads}; end {os.getloadavg()[0]:.2f}"
          + ("; driven lattice" if a.drive else "") + f"; warm {what} time")
    print(f"| M (D) | solve | main warm {what} s (rounds) | this warm {what} s (rounds) | this/main (medians) | main/dynamiqs "
          f"| this/dynamiqs | dynamiqs warm {what} s |")
    print("|---|---|---|---|---|---|---|---|")
    for M in sizes:
        peer = warm.get((M, "peer"))
        for solve in solves:
            m, t = warm[(M, solve, "main")], warm[(M, solve, "this")]
            fmt = ", ".join
            ratio = (lambda xs: f"{statistics.median(x / p for x, p in zip(xs, peer)):.2f}") if peer else (lambda xs: "-")
            print(f"| {M} ({3 ** M}) | {solve} | {statistics.median(m):.4f} ({fmt(f'{x:.4f}' for x in m)}) | "
                  f"{statistics.median(t):.4f} ({fmt(f'{x:.4f}' for x in t)}) | {statistics.median(t) / statistics.median(m):.2f} | "
                  f"{ratio(m)} | {ratio(t)} | {statistics.median(peer) if peer else float('nan'):.4f} |")
            n0m, n0t = warm[(M, solve, "main", "n0")], warm[(M, solve, "this", "n0")]
            print(f"|  | ⟨n_0⟩(10) main {n0m[0]:.12f}, this {n0t[0]:.12f} (max spread over rounds "
                  f"{max(n0m + n0t) - min(n0m + n0t):.1e}) | | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
