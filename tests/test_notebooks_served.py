"""Every tutorial also runs under plain ``panel serve``: its last cell marks the component
``.servable()``, and one notebook is served for real and answers with the component's page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ui_helpers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_last_cell_is_a_servable_component(nb):
    cells = json.loads(nb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    last = "".join(code[-1]["source"]).strip().splitlines()[-1]
    assert ".servable()" in last and "nephlab.widgets" in "".join(code[-1]["source"]), (nb.name, last)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_panel_can_convert_the_notebook(nb):
    # `panel serve X.ipynb` turns the cells into one Python script (markdown cells become string
    # literals, IPython magics are not translated): it must compile
    import ast

    from panel.io.handlers import parse_notebook

    _, code, _ = parse_notebook(str(nb))
    ast.parse(code, filename=nb.name)


def test_panel_serve_runs_a_notebook(tmp_path):
    nb = ROOT / "notebooks" / "05_magnus_vs_rk4.ipynb"
    port = free_port()
    log = tmp_path / "panel.log"
    cmd = [sys.executable, "-m", "panel", "serve", str(nb), "--port", str(port), "--address", "127.0.0.1",
           "--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT / "notebooks"),
                                start_new_session=True)
    try:
        # readiness: the liveness endpoint answers as soon as the server listens (no session, no
        # compute), so a loaded machine delays it only by the server's start-up
        wait_for_http(f"http://127.0.0.1:{port}/liveness", timeout=180, proc=proc)
        # the session runs every cell of the notebook, then renders what was marked servable;
        # a cell that raises is logged as "Error running application handler" with its traceback.
        # That is compute: it gets the test's whole budget, not a short fixed timeout.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{nb.stem}", timeout=480) as r:
            body = r.read().decode()
        text = log.read_text(errors="replace")
        assert r.status == 200 and "<html" in body.lower()
        assert "Error running application handler" not in text and "Traceback" not in text, text[-3000:]
    finally:  # a throwaway server: nothing to flush
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
