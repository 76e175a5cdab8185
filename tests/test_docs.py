"""The documentation site builds with warnings as errors, its navigation is complete, and what
it says holds.

``mkdocs build --strict`` (once per module, ``built_site``) renders the user guide, the API
reference (mkdocstrings) and the tutorials (mkdocs-jupyter, not executed). Any warning fails it:
a broken link or anchor, a page missing from the nav, a docstring that cannot be collected or
rendered. On the built site the tests then check that every name of every public ``__all__`` has
an API entry (the site's ``objects.inv``), that the links of the rendered tutorials resolve, that
the performance page carries ``benchmarks/RESULTS.md`` and that the Binder links come from the
one repository URL. ``CITATION.cff`` is checked against the CFF 1.2.0 rules, and the code on the
"Coming from QuTiP" and how-to pages is run (``slow``). Part of ``make test``; the build takes
about 10-30 s.
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


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> tuple[Path, str]:
    """The site built once by ``mkdocs build --strict`` for every test of this module: (site, log)."""
    site = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(MKDOCS_YML),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    return site, log


def test_docs_build_strict(built_site):
    site, log = built_site
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
# Binder configuration (documented in docs/install.md and docs/jupyterhub.md)
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


# ------------------------------------------------------------------------------------------
# Every public name has an API entry on the built site
# ------------------------------------------------------------------------------------------

# The public modules: the package, each subpackage (a new one must be added here, see
# test_public_module_list_is_complete), the widgets, and the modules whose names the API pages
# document as a namespace of their own.
PUBLIC_MODULES = (
    "nephlab", "nephlab.quantum", "nephlab.quantum.jax", "nephlab.stochastic", "nephlab.control",
    "nephlab.largedev", "nephlab.largedev.paths", "nephlab.learn", "nephlab.md", "nephlab.tasks",
    "nephlab.cluster", "nephlab.bench", "nephlab.widgets",
)


def _inventory(path: Path) -> set[str]:
    """The object names in a Sphinx ``objects.inv`` (version 2: four header lines, then zlib)."""
    import zlib

    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header
    for _ in range(3):
        _, _, body = body.partition(b"\n")
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines() if line}


def _documented_as(module: str, name: str) -> set[str]:
    """The inventory names under which ``module.name`` may be documented: its public path and
    the path where it is defined (mkdocstrings records the object where a directive renders it).
    The widgets package is rendered from its folder, ``widgets``."""
    import importlib

    mod = importlib.import_module(module)
    try:
        obj = getattr(mod, name)
    except AttributeError:  # a lazily imported submodule listed in __all__
        obj = importlib.import_module(f"{module}.{name}")
    names = {f"{module}.{name}"}
    if isinstance(obj, type(mod)):
        names.add(obj.__name__)
    elif getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
        names.add(f"{obj.__module__}.{obj.__qualname__}")
    return names | {n.replace("nephlab.widgets", "widgets", 1) for n in names}


def test_public_module_list_is_complete():
    import pkgutil

    import nephlab

    subpackages = {f"nephlab.{m.name}" for m in pkgutil.iter_modules(nephlab.__path__)
                   if m.ispkg and not m.name.startswith("_")}
    assert subpackages <= set(PUBLIC_MODULES), f"add to PUBLIC_MODULES: {sorted(subpackages - set(PUBLIC_MODULES))}"


def test_every_public_name_has_an_api_entry(built_site):
    import importlib

    site, _ = built_site
    inv = _inventory(site / "objects.inv")
    missing = []
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            if name.startswith("__"):  # __version__: shown on the nephlab page's text
                continue
            if not _documented_as(module, name) & inv:
                missing.append(f"{module}.{name}")
    assert not missing, f"no API entry on the site for {missing}: add a ::: directive to a docs/api page"


# ------------------------------------------------------------------------------------------
# Links and generated pages of the built site
# ------------------------------------------------------------------------------------------

def test_tutorial_links_resolve(built_site):
    """mkdocs checks the links of Markdown pages, not those inside notebooks: check them here."""
    site, _ = built_site
    broken = []
    for page in sorted((site / "guide" / "tutorials").glob("*/index.html")):
        html = page.read_text(encoding="utf-8")
        for href in re.findall(r'<a[^>]+href="([^"#]+)(?:#[^"]*)?"', html):
            if re.match(r"[a-z]+:", href) or href.startswith("/"):
                continue
            target = (page.parent / href).resolve()
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{page.parent.name}: {href}")
    assert not broken, broken


def test_performance_page_is_generated_from_results(built_site):
    site, _ = built_site
    html = (site / "performance" / "index.html").read_text(encoding="utf-8")
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", results, flags=re.M)
    assert sections
    for title in sections:  # each benchmark is a row of the summary table and a section
        words = re.sub(r"`", "", title).split(":")[0].strip()
        assert words in html, f"{title!r} of RESULTS.md is not on the performance page"
    assert "<!-- RESULTS.md -->" not in html


def _repo_url() -> str:
    m = re.search(r"^repo_url:\s*(\S+)\s*$", MKDOCS_YML.read_text(encoding="utf-8"), flags=re.M)
    assert m, "mkdocs.yml must set repo_url"
    return m.group(1)


def _hooks():
    spec = importlib.util.spec_from_file_location("_docs_hooks", ROOT / "docs" / "_hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_hooks_derive_binder_links_and_the_performance_table():
    hooks = _hooks()
    urls = hooks.binder_urls("https://github.com/org/proj.git")
    assert urls["binder_url"] == "https://mybinder.org/v2/gh/org/proj/HEAD?urlpath=lab/tree/notebooks"
    assert urls["binder_app_url"] == "https://mybinder.org/v2/gh/org/proj/HEAD?urlpath=panel/app"
    with pytest.raises(ValueError, match="repo_url"):
        hooks.binder_urls("https://gitlab.com/org/proj")
    md = hooks.performance_markdown("# R\n## A\n### old\n### new, GPU\n## B\ntext\n")
    assert "| A | new, GPU |" in md and "| B | — |" in md and "\n### A\n" in md


def test_repository_url_is_set_in_one_place(built_site):
    """mkdocs.yml's repo_url drives the site; README.md and CITATION.cff repeat the same URL; no
    placeholder is left."""
    site, _ = built_site
    url = _repo_url()
    binder = _hooks().binder_urls(url)["binder_url"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert url in readme and binder in readme
    assert f'repository-code: "{url}"' in (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    install = (site / "install" / "index.html").read_text(encoding="utf-8")
    assert binder in install
    for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        text = p.read_text(encoding="utf-8")
        assert "<owner>" not in text and "<repo>" not in text, f"placeholder left in {p}"
    for p in site.rglob("*.html"):
        assert "{{ repo_url }}" not in p.read_text(encoding="utf-8"), p


def test_claims_match_the_tests():
    """A page may say the solvers are checked against dynamiqs only if a test compares with it
    (today none does: dynamiqs is a benchmark peer only, so no page may claim it)."""
    compared = [p.name for p in (ROOT / "tests").glob("test_*.py")
                if p.name not in ("test_bench.py", "test_docs.py")
                and re.search(r"^\s*(import dynamiqs|from dynamiqs)", p.read_text(encoding="utf-8"), flags=re.M)]
    for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        text = re.sub(r"\s+", " ", p.read_text(encoding="utf-8"))
        if re.search(r"checked against [^.]*dynamiqs", text):
            assert compared, f"{p}: claims a dynamiqs check, but no test imports dynamiqs"
    hub = (ROOT / "docs" / "jupyterhub.md").read_text(encoding="utf-8")
    assert 'pip install "nephlab[ui]"' not in hub  # not on PyPI: a checkout or a wheel


# ------------------------------------------------------------------------------------------
# Standard files
# ------------------------------------------------------------------------------------------

# CFF 1.2.0 (https://github.com/citation-file-format/citation-file-format/blob/1.2.0/schema.json):
# the top-level keys it allows and the three it requires.
CFF_KEYS = {
    "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
    "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
    "references", "repository", "repository-artifact", "repository-code", "title", "type", "url",
    "version",
}
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}


def test_citation_cff_is_valid_cff_1_2():
    import datetime

    import yaml

    import nephlab

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert isinstance(cff, dict)
    assert CFF_REQUIRED <= set(cff), f"missing: {CFF_REQUIRED - set(cff)}"
    assert set(cff) <= CFF_KEYS, f"not CFF 1.2.0 keys: {set(cff) - CFF_KEYS}"
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"].strip()
    assert isinstance(cff["title"], str) and cff["title"].strip()
    assert isinstance(cff["authors"], list) and cff["authors"]
    for a in cff["authors"]:  # a person (family-names/given-names) or an entity (name)
        assert isinstance(a, dict) and ({"name", "family-names", "given-names"} & set(a)), a
    assert cff.get("type", "software") in ("software", "dataset")
    assert str(cff["version"]) == nephlab.__version__
    datetime.date.fromisoformat(str(cff["date-released"]))  # YYYY-MM-DD
    assert cff["license"] == "BSD-3-Clause"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("BSD 3-Clause License")
    assert cff["repository-code"] == _repo_url()
    assert all(isinstance(k, str) for k in cff.get("keywords", []))


def test_standard_files_exist_and_say_what_they_should():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog and "## [Unreleased]" in changelog
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for what in ("make test", "make test-fast", "CI=true", "chromium", "nephlab bench", "benchmarks/RESULTS.md",
                 "without outputs", "duplicates"):
        assert what in contributing, f"CONTRIBUTING.md should mention {what!r}"


# ------------------------------------------------------------------------------------------
# The code on the "Coming from QuTiP" and how-to pages runs
# ------------------------------------------------------------------------------------------

RUN_PAGES = ("qutip.md", "howto/time_dependent.md", "howto/batching.md", "howto/gpu.md",
             "howto/export.md", "api/nephlab.md")


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_code_runs(page: str, tmp_path: Path):
    """Every ```python block of the page, in order, in one fresh interpreter (in tmp_path)."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, f"{page} has no python code"
    env = {**os.environ, "MPLBACKEND": "Agg", "NEPHLAB_JAX_CACHE": "off"}
    res = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert res.returncode == 0, f"the code of docs/{page} failed:\n{res.stderr[-4000:]}"


# ------------------------------------------------------------------------------------------
# Maths renders offline: MathJax is shipped with the site
# ------------------------------------------------------------------------------------------

def test_site_loads_nothing_remote_for_maths_and_fonts(built_site):
    site, _ = built_site
    page = (site / "guide" / "tutorials" / "05_magnus_vs_rk4" / "index.html").read_text(encoding="utf-8")
    assert "javascripts/mathjax/tex-svg.js" in page and "javascripts/mathjax-config.js" in page
    assert "unpkg.com" not in page and "cdn.jsdelivr" not in page
    assert "fonts.googleapis.com" not in page and "fonts.gstatic.com" not in page
    assert (site / "javascripts" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000


@pytest.mark.ui
@pytest.mark.parametrize("page_path, inline", [
    ("guide/tutorials/05_magnus_vs_rk4/index.html", r"\omega_0"),  # a notebook page: $...$ inline
    ("quickstart/index.html", r"\alpha_{ss}"),                      # a Markdown page: arithmatex
])
def test_maths_renders_offline_in_chromium(built_site, page_path: str, inline: str):
    """Open a built page from disk in headless Chromium with every non-file request aborted:
    MathJax typesets the page's inline and display maths (``mjx-container``), and no request left
    the machine."""
    from ui_helpers import chromium_page

    site, _ = built_site
    url = (site / page_path).as_uri()
    blocked: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort("internetdisconnected")

    with chromium_page(timeout_ms=60_000) as page:
        page.context.route("**/*", route)
        page.goto(url)
        page.wait_for_selector("mjx-container", state="attached")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        n_inline = page.locator("mjx-container:not([display='true'])").count()
        # no raw TeX left in the prose: the sample of inline maths was typeset
        text = page.evaluate("() => document.querySelector('article').innerText")
    assert n_inline > 0, "no inline maths was typeset"
    assert inline not in text, f"raw TeX {inline!r} is still in the page text"
    assert not [u for u in blocked if "mathjax" in u or "font" in u], blocked
