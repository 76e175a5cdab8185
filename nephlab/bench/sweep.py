"""Sweep benchmark: a 1000-point sweep of the n = 10 ``lindblad`` task on a Dask LocalCluster.

Problem: driven damped oscillator (task defaults: n = 10 Fock levels, t_max = 10, 101 saved
times, method auto), grid F = linspace(0.1, 1, P/20) x gamma = logspace(-2, 0, 20), P points
(default 1000). Rows, each on a fresh LocalCluster (127.0.0.1, one single-threaded worker
process per worker):

- ``nephlab.cluster.sweep`` with 1 and with 2 workers: chunks of points that share a batch key
  run as ONE vmapped solve (``run_batch``), results written to a zarr store as they arrive;
- the naive baseline: one ``client.submit(run_task, ...)`` per point, results gathered in
  memory (nothing written: the baseline is favoured).

For each row: the first (cold) run, which includes importing JAX on the workers and compiling,
then the median of ``--repeats`` warm runs; points/s from the median; the per-task overhead =
(median wall x workers - summed compute time of the points) / number of Dask tasks, where the
compute time is the task's own ``wall_time_s``. ``--slurm PROFILE`` adds a row for a 100-point
sweep through that dask-jobqueue profile (needs a running SLURM).

Run ``python benchmarks/sweep.py --help``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from typing import Any

import numpy as np


def _grid(points: int) -> dict[str, list[float]]:
    n_gamma = 20 if points >= 20 else 1
    n_f = max(1, points // n_gamma)
    return {"F": np.linspace(0.1, 1.0, n_f).tolist(), "gamma": np.logspace(-2, 0, n_gamma).tolist()}


def _sweep_row(client, grid, fixed, chunk, repeats: int, workdir: str) -> dict[str, Any]:
    from nephlab.cluster import sweep
    from nephlab.cluster.sweep import _chunks, default_chunk
    from nephlab.tasks import get_task

    task = get_task("lindblad")
    times, computes = [], []
    for r in range(repeats + 1):
        store = os.path.join(workdir, f"s{r}.zarr")
        t0 = time.perf_counter()
        ds = sweep("lindblad", grid, fixed, store=store, cluster=client, chunk=chunk, progress=False)
        times.append(time.perf_counter() - t0)
        computes.append(float(np.nansum(ds.wall_time_s.values)))
        if int((ds.status.values != 1).sum()):
            raise RuntimeError(f"benchmark sweep left {int((ds.status.values != 1).sum())} points not done")
        shutil.rmtree(store, ignore_errors=True)
    n_points = int(np.prod([len(v) for v in grid.values()]))
    w = len(client.scheduler_info()["workers"])
    size = chunk or default_chunk(n_points, w)
    pts = [task.spec.validate({**fixed, "F": F, "gamma": g}) for F in grid["F"] for g in grid["gamma"]]
    n_tasks = len(_chunks(list(range(n_points)), pts, task, size))
    return {"cold": times[0], "warm": times[1:], "compute": statistics.median(computes[1:]), "tasks": n_tasks, "chunk": size}


def _naive_row(client, grid, fixed, repeats: int) -> dict[str, Any]:
    from nephlab.tasks import run_task

    pts = [{**fixed, "F": F, "gamma": g} for F in grid["F"] for g in grid["gamma"]]
    times, computes = [], []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        futs = [client.submit(run_task, "lindblad", p, pure=False) for p in pts]
        dss = client.gather(futs)
        times.append(time.perf_counter() - t0)
        computes.append(sum(float(d.attrs["wall_time_s"]) for d in dss))
        del futs, dss
    return {"cold": times[0], "warm": times[1:], "compute": statistics.median(computes[1:]), "tasks": len(pts), "chunk": 1}


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark and print a Markdown table; returns 0.

    Example:
        >>> main(["--points", "20", "--workers", "1", "--repeats", "1"])  # doctest: +SKIP
        sweep benchmark...
        0
    """
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1000, help="grid points (default: %(default)s)")
    ap.add_argument("--n", type=int, default=10, help="Fock levels (default: %(default)s)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: %(default)s)")
    ap.add_argument("--chunk", type=int, default=None, help="points per Dask task (default: automatic)")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs per row; the median is reported (default: %(default)s)")
    ap.add_argument("--no-naive", action="store_true", help="skip the one-submit-per-point baseline")
    ap.add_argument("--slurm", default=None, metavar="PROFILE", help="also sweep 100 points through this dask-jobqueue profile")
    a = ap.parse_args(argv)
    if a.points < 1 or a.repeats < 1:
        ap.error("--points and --repeats must be >= 1")
    workers = [int(w) for w in a.workers.split(",") if w.strip()]

    import dask
    import distributed
    import jax
    from distributed import Client

    from nephlab.cluster import local_cluster, sweep

    grid = _grid(a.points)
    fixed = {"n": a.n}
    n_points = len(grid["F"]) * len(grid["gamma"])
    load0 = os.getloadavg()
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="nephlab-bench-sweep-") as workdir:
        for w in workers:
            with local_cluster(w) as lc, Client(lc) as client:
                client.wait_for_workers(w)
                rows[f"nephlab sweep, {w} worker{'s' if w > 1 else ''}"] = dict(
                    _sweep_row(client, grid, fixed, a.chunk, a.repeats, workdir), workers=w)
                if not a.no_naive and w == max(workers):
                    rows[f"naive submit per point, {w} worker{'s' if w > 1 else ''}"] = dict(
                        _naive_row(client, grid, fixed, a.repeats), workers=w)
        if a.slurm:
            g100 = _grid(100)
            t0 = time.perf_counter()
            ds = sweep("lindblad", g100, fixed, store=os.path.join(workdir, "slurm.zarr"), cluster=a.slurm, progress=False)
            wall = time.perf_counter() - t0
            done = int((ds.status.values == 1).sum())
            rows[f"SLURM profile {a.slurm!r}, 100 points (incl. job start)"] = {
                "cold": wall, "warm": [wall], "compute": float(np.nansum(ds.wall_time_s.values)),
                "tasks": 0, "chunk": 0, "workers": 0, "points": done}
    load1 = os.getloadavg()

    print(f"sweep benchmark: lindblad n={a.n}, {n_points} points (F x gamma = {len(grid['F'])} x {len(grid['gamma'])}), "
          f"repeats={a.repeats}")
    print(f"  python {platform.python_version()}, jax {jax.__version__}, dask {dask.__version__}, "
          f"distributed {distributed.__version__}, {os.cpu_count()} CPUs, "
          f"load average {load0[0]:.1f} before / {load1[0]:.1f} after")
    print("| run | workers | chunk | Dask tasks | cold (s) | median (s) | points/s | overhead per task (ms) | speed-up vs naive |")
    print("|---|---|---|---|---|---|---|---|---|")
    naive = next((r for k, r in rows.items() if k.startswith("naive")), None)
    for name, r in rows.items():
        med = statistics.median(r["warm"])
        pts = r.get("points", n_points)
        over = f"{(med * r['workers'] - r['compute']) / r['tasks'] * 1e3:.3g}" if r["tasks"] else "-"
        sp = f"{statistics.median(naive['warm']) / med:.3g}x" if naive is not None else "-"
        print(f"| {name} | {r['workers'] or '-'} | {r['chunk'] or '-'} | {r['tasks'] or '-'} | {r['cold']:.3g} | "
              f"{med:.3g} | {pts / med:.3g} | {over} | {sp} |")
    one = next((r for k, r in rows.items() if k.startswith("nephlab") and r["workers"] == 1), None)
    two = next((r for k, r in rows.items() if k.startswith("nephlab") and r["workers"] == 2), None)
    if one and two:
        print(f"scaling 1 -> 2 workers: {statistics.median(one['warm']) / statistics.median(two['warm']):.3g}x")
    return 0
