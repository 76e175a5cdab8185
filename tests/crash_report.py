"""Summarise a crash log written by tests/conftest.py (``NEPHLAB_CRASH_LOG``).

Prints the test that was running when the process died and, for each thread in faulthandler's
dump, its innermost frames outside pytest/pluggy, so that the tail of a CI log names the culprit.

Usage: ``python tests/crash_report.py PATH`` (prints nothing when PATH is missing or empty). Under
pytest-xdist each worker writes ``PATH.gwN``; those are read too, one report per crashed worker.
"""

from __future__ import annotations

import sys
from pathlib import Path

_NOISE = ("/_pytest/", "/pluggy/", "<frozen runpy>", "/pytest/__main__.py")


def summarise(text: str, frames_per_thread: int = 8) -> str:
    """Return a short report of the last test started and each thread's innermost frames."""
    lines = text.splitlines()
    started = [ln.split(" ", 2)[1] + " (" + ln.split(" ", 2)[2] + ")" if ln.count(" ") >= 2 else ln.split(" ", 1)[1] for ln in lines if ln.startswith("nephlab-test-start ")]
    dump_at = next((i for i, ln in enumerate(lines) if ln.startswith("Fatal Python error")), None)
    if dump_at is None:
        return ""
    out = [f"NATIVE CRASH while running: {started[-1] if started else '(before the first test)'}"]
    out.append(lines[dump_at])
    header, frames = None, []
    for ln in lines[dump_at + 1 :] + [""]:
        if ln.startswith(("Thread 0x", "Current thread 0x")) or not ln.strip():
            if header is not None:
                kept = [f for f in frames if not any(n in f for n in _NOISE)]
                out.append(header)
                out.extend(kept[:frames_per_thread])
            header, frames = (ln, []) if ln.strip() else (None, [])
        elif ln.startswith("  File") and header is not None:
            frames.append(ln)
        elif ln.startswith("Extension modules"):
            break
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    for log in [path, *sorted(path.parent.glob(path.name + ".gw*"))]:
        report = summarise(log.read_text(errors="replace")) if log.is_file() else ""
        if report:
            print(f"[{log.name}]")
            print(report)
