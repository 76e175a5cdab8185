"""ProtocolDesigner edit latency: the exact Gaussian re-evaluation behind every drag.

Moves random control points of the default designer (dragged trap, exact moment equations,
thermodynamic length and the speed-limit bound) and prints the median, 90th percentile and
maximum of the evaluation time per edit (target: < 100 ms). Reference protocols are switched off
so that nothing else runs meanwhile.

Run ``python benchmarks/designer_latency.py [--edits N]``.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=40, help="edits after 5 warm-up edits (default: 40)")
    a = ap.parse_args(argv)
    from nephlab.widgets import ProtocolDesigner

    d = ProtocolDesigner(auto_references=False)
    rng = np.random.default_rng(0)
    n = len(d.points)
    for _ in range(a.edits + 5):
        d.move_point(int(rng.integers(1, n - 1)), lam=float(rng.uniform(0.0, 5.0)))
    lat = np.asarray(d.latencies_ms[-a.edits:])
    print(f"designer edit latency (python {platform.python_version()}): median {np.median(lat):.1f} ms, "
          f"p90 {np.percentile(lat, 90):.1f} ms, max {lat.max():.1f} ms over {lat.size} edits (target < 100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
