"""Keep a dask-jobqueue cluster of a named profile alive in a background process.

``python -m nephlab.cluster._serve_profile PROFILE STATE_FILE [--profiles FILE]`` starts the
cluster with :func:`nephlab.cluster.profiles.make_cluster`, writes ``{"profile", "address",
"dashboard", "pid"}`` as JSON to ``STATE_FILE`` (atomically), and runs until SIGTERM/SIGINT,
when it closes the cluster (cancelling its jobs) and removes ``STATE_FILE``. Used by
``nephlab cluster start|stop|status``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m nephlab.cluster._serve_profile")
    ap.add_argument("profile")
    ap.add_argument("state_file")
    ap.add_argument("--profiles", default=None)
    args = ap.parse_args(argv)

    from .profiles import make_cluster

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = Path(args.state_file)
    cluster = make_cluster(args.profile, args.profiles)
    try:
        info = {
            "profile": args.profile,
            "address": cluster.scheduler_address,
            "dashboard": cluster.dashboard_link,
            "pid": os.getpid(),
        }
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, state)
        print(json.dumps(info), flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        cluster.close()
        state.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
