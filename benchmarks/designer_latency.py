"""ProtocolDesigner edit latency: the exact re-evaluation behind every drag, first edit included.

In a fresh process: import, ``ProtocolDesigner.warm()`` (what ``nephlab serve`` runs at start:
compiles the edit path of both problems, computes and caches the default references), build a
designer and its view (the notebook layout, rendered to Bokeh models, so the plot, the numbers
and the comparison table are updated on each edit), then move random control points. Prints the
first edit's wall time and the median, 90th percentile and maximum of the following ones
(target: every edit, the first included, <= 100 ms). Background references are off during the
edits so that nothing else runs meanwhile.

``--no-warm`` skips ``warm()``: the first edit then pays for loading the compiled functions from
JAX's persistent compilation cache (or compiling them, with ``NEPHLAB_JAX_CACHE=off``).

Run ``python benchmarks/designer_latency.py [--edits N] [--no-warm] [--problem stiffness]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=40, help="edits after the first one (default: 40)")
    ap.add_argument("--no-warm", action="store_true", help="skip ProtocolDesigner.warm()")
    ap.add_argument("--problem", default="trap_translation", choices=("trap_translation", "stiffness"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    from nephlab.widgets.protocol import ProtocolDesigner

    t_import = time.perf_counter() - t0
    t_warm = float("nan")
    if not a.no_warm:
        t1 = time.perf_counter()
        ProtocolDesigner.warm()
        t_warm = time.perf_counter() - t1
    t1 = time.perf_counter()
    d = ProtocolDesigner(problem=a.problem, auto_references=False)
    layout = d.__panel__()
    layout.get_root()  # Bokeh models of the plot, the numbers and the table, updated on each edit
    t_build = time.perf_counter() - t1
    rng = np.random.default_rng(0)
    n = len(d.points)
    lo, hi = sorted(d.points[[0, -1], 1])
    wall = []
    for _ in range(a.edits + 1):
        lam = float(rng.uniform(lo, hi)) if a.problem == "trap_translation" else float(rng.uniform(lo, hi) + 0.1)
        t2 = time.perf_counter()
        d.move_point(int(rng.integers(1, n - 1)), t=float(rng.uniform(0, d.tau)), lam=lam)
        wall.append(1e3 * (time.perf_counter() - t2))
    rest = np.asarray(wall[1:])
    print(f"designer ({a.problem}, python {platform.python_version()}): import {t_import:.1f} s, "
          f"warm() {t_warm:.1f} s, designer + view {t_build:.2f} s (its evaluation {d.latencies_ms[0]:.1f} ms); "
          f"first edit {wall[0]:.1f} ms "
          f"(evaluation {d.latencies_ms[1]:.1f} ms); next {rest.size} edits: median {np.median(rest):.1f} ms, "
          f"p90 {np.percentile(rest, 90):.1f} ms, max {rest.max():.1f} ms (target <= 100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
