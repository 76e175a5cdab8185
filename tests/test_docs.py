"""The documentation site builds with warnings as errors, and its navigation is complete.

``mkdocs build --strict`` renders the user guide, the API reference (mkdocstrings reads every
docstring of nephlab.quantum, .control, .stochastic, .largedev, .tasks, .cluster and
nephlab.widgets) and the tutorials (mkdocs-jupyter, not executed). Any warning fails it: a
broken link or anchor, a page missing from the nav, a docstring that cannot be collected or
rendered. Part of ``make test``; about 10-30 s.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS_YML = ROOT / "mkdocs.yml"


def _nav_paths() -> list[str]:
    """Every page path listed under ``nav:`` in mkdocs.yml (a line parser: no YAML tags needed)."""
    text = MKDOCS_YML.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:\n") :]
    return re.findall(r":\s*([\w./-]+\.(?:md|ipynb))\s*$", nav, flags=re.M)


def test_docs_build_strict(tmp_path: Path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(MKDOCS_YML),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    assert "WARNING" not in log, log[-6000:]
    # the pages exist and carry what they should
    assert (site / "index.html").is_file()
    quantum = (site / "api" / "quantum" / "index.html").read_text(encoding="utf-8")
    assert 'id="nephlab.quantum.mesolve.mesolve"' in quantum or 'id="nephlab.quantum.mesolve"' in quantum
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / "guide" / "tutorials" / nb.stem / "index.html"
        assert page.is_file(), f"tutorial {nb.name} was not rendered to {page}"
    # doctest examples are rendered as highlighted console code (Pygments' prompt token),
    # not as Markdown text
    assert '<span class="gp">&gt;&gt;&gt; </span>' in quantum


def test_every_notebook_and_doc_page_is_in_the_nav():
    nav = set(_nav_paths())
    missing_nb = [
        f"guide/tutorials/{nb.name}" for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
        if f"guide/tutorials/{nb.name}" not in nav
    ]
    assert not missing_nb, f"add these tutorials to the nav of mkdocs.yml: {missing_nb}"
    docs = ROOT / "docs"
    pages = {
        p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
        if "tutorials" not in p.relative_to(docs).parts
    }
    missing_md = sorted(pages - nav)
    assert not missing_md, f"add these pages to the nav of mkdocs.yml: {missing_md}"
    dangling = sorted(p for p in nav if not (docs / p).exists())
    assert not dangling, f"mkdocs.yml nav lists pages that do not exist: {dangling}"


def test_tutorials_link_points_at_notebooks():
    link = ROOT / "docs" / "guide" / "tutorials"
    assert link.is_symlink() and link.resolve() == (ROOT / "notebooks").resolve()


def _griffe_extension():
    path = ROOT / "docs" / "guide" / "_griffe_doctest.py"
    spec = importlib.util.spec_from_file_location("_griffe_doctest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Example:\n    >>> 1 + 1\n    2\n\nDone.",
         "Example:\n    ```pycon\n    >>> 1 + 1\n    2\n    ```\n\nDone."),
        # a doctest whose output looks like a Markdown reference link: fenced, so rendered verbatim
        (">>> x[1][1, 0]\n[0, 1, 2]", "```pycon\n>>> x[1][1, 0]\n[0, 1, 2]\n```"),
        # an already fenced block is left alone
        ("```python\n>>> 1\n```", "```python\n>>> 1\n```"),
        # a dedent ends the block
        ("    >>> f()\n    3\nafter", "    ```pycon\n    >>> f()\n    3\n    ```\nafter"),
        ("no doctest here", "no doctest here"),
    ],
)
def test_griffe_extension_fences_doctests(text: str, expected: str):
    assert _griffe_extension().fence_doctests(text) == expected


# ------------------------------------------------------------------------------------------
# Binder configuration (documented in docs/guide/install.md and docs/jupyterhub.md)
# ------------------------------------------------------------------------------------------

BINDER = ROOT / "binder"


def test_binder_postbuild_is_strict_bash():
    post = BINDER / "postBuild"
    text = post.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n"), "binder/postBuild must be a bash script"
    assert "\nset -euo pipefail\n" in text, "binder/postBuild must stop on the first error (set -euo pipefail)"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (chmod +x)"
    assert 'pip install --no-cache-dir -e ".[ui]"' in text
    assert "cp binder/jupyter-panel-proxy.yml jupyter-panel-proxy.yml" in text
    res = subprocess.run(["bash", "-n", str(post)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


def test_binder_requirements_have_the_proxies():
    names = {
        re.match(r"[A-Za-z0-9._-]+", line).group(0).lower()
        for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert {"jupyterlab", "jupyter-server-proxy", "jupyter-panel-proxy"} <= names
    assert (BINDER / "runtime.txt").read_text(encoding="utf-8").strip() == "python-3.11"


def test_binder_panel_proxy_serves_the_app(tmp_path: Path, monkeypatch):
    """jupyter-panel-proxy, started where postBuild puts its config, runs `panel serve widgets/app.py`."""
    panel_server = pytest.importorskip("panel_server", reason="jupyter-panel-proxy is not installed")
    (tmp_path / "widgets").mkdir()
    (tmp_path / "widgets" / "app.py").write_text("# stand-in for the repository's widgets/app.py\n")
    (tmp_path / "jupyter-panel-proxy.yml").write_text((BINDER / "jupyter-panel-proxy.yml").read_text())
    monkeypatch.chdir(tmp_path)
    cmd = panel_server._launch_command(4321)
    assert cmd[:3] == ["panel", "serve", "widgets/app.py"], cmd
    assert cmd[cmd.index("--prefix") + 1] == "{base_url}panel"   # -> <base_url>panel/app
    assert "--dev" not in cmd                                       # no autoreload on Binder
    assert (ROOT / "widgets" / "app.py").is_file()
