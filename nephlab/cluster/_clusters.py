"""Records of clusters started by ``nephlab cluster start`` (one JSON file per profile).

``<jobs_dir>/_clusters/PROFILE.json`` holds ``{"profile", "address", "dashboard", "pid"}`` of
the background process (:mod:`nephlab.cluster._serve_profile`) that keeps the cluster.

Example:
    >>> running_address("no-such-profile") is None
    True
"""

from __future__ import annotations

import json
from pathlib import Path


def state_file(profile: str, *, create: bool = False) -> Path:
    """Path of the record for ``profile`` (``create=True`` makes its folder)."""
    from .batch import jobs_dir

    if not isinstance(profile, str) or not profile or "/" in profile or profile.startswith("."):
        raise ValueError(f"profile name {profile!r} is not a plain name")
    d = jobs_dir() / "_clusters"
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d / f"{profile}.json"


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def read_state(profile: str) -> dict | None:
    """The record of ``profile``'s running cluster, or None (a stale record is removed)."""
    path = state_file(profile)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"_serve_profile" not in cmdline or not alive(pid):
        path.unlink(missing_ok=True)  # stale: its process is gone
        return None
    return info


def running_address(profile: str) -> str | None:
    """Scheduler address of the cluster ``nephlab cluster start PROFILE`` keeps, or None."""
    info = read_state(profile)
    return None if info is None else str(info["address"])
