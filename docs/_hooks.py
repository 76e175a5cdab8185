"""MkDocs hooks of the nephlab docs (loaded from ``mkdocs.yml``: ``hooks: [docs/_hooks.py]``).

- **One repository URL.** ``repo_url`` in ``mkdocs.yml`` is the only place the site names the
  repository. Pages write ``{{ repo_url }}``, ``{{ binder_url }}`` (Binder, JupyterLab on the
  tutorials) or ``{{ binder_app_url }}`` (Binder, the served app) and get the values derived from
  it. ``README.md``, which GitHub renders without this hook, is held to the same URL by
  ``tests/test_docs.py``.
- **The performance page is generated.** ``docs/performance.md`` carries the marker
  ``<!-- RESULTS.md -->``; it is replaced by a table of the benchmarks and their latest recorded
  run, then by ``benchmarks/RESULTS.md`` itself (headings one level down), so the page always
  shows what the benchmark scripts recorded: machine, load, versions, medians and ratios, and
  GPU rows once they have been measured.
- **Project files from their one copy.** ``<!-- include: CHANGELOG.md -->`` (also
  ``CONTRIBUTING.md``, ``LICENSE``) is replaced by that file of the repository.

Excluded from the built site by ``exclude_docs: *.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

MARKER = "<!-- RESULTS.md -->"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def binder_urls(repo_url: str) -> dict[str, str]:
    """The Binder launch links of a GitHub repository URL.

    Example:
        >>> binder_urls("https://github.com/org/proj/")["binder_app_url"]
        'https://mybinder.org/v2/gh/org/proj/HEAD?urlpath=panel/app'
    """
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repo_url or "")
    if m is None:
        raise ValueError(f"mkdocs.yml repo_url must be a https://github.com/OWNER/REPO URL, got {repo_url!r}")
    base = f"https://mybinder.org/v2/gh/{m.group(1)}/{m.group(2)}/HEAD"
    return {
        "repo_url": repo_url.rstrip("/"),
        "binder_url": f"{base}?urlpath=lab/tree/notebooks",
        "binder_app_url": f"{base}?urlpath=panel/app",
    }


def performance_markdown(results: str) -> str:
    """``benchmarks/RESULTS.md`` as a section of the performance page: a table of each benchmark
    (``##``) with its latest recorded run (its last ``###``), then the file with every heading
    one level down.

    Example:
        >>> md = performance_markdown("# R\\n## A\\n### 2026-01-01, CPU\\ntext\\n")
        >>> "| A | 2026-01-01, CPU |" in md, "#### 2026-01-01, CPU" in md
        (True, True)
    """
    rows, current = [], None
    for line in results.splitlines():
        if line.startswith("## "):
            current = [line[3:].strip(), "—"]
            rows.append(current)
        elif line.startswith("### ") and current is not None:
            current[1] = line[4:].strip()
    table = ["| benchmark | latest recorded run |", "|---|---|"]
    table += [f"| {name} | {latest} |" for name, latest in rows]
    body = re.sub(r"^(#{1,5}) ", r"#\1 ", results, flags=re.M)
    return "\n".join(table) + "\n\n" + body


_INCLUDE = re.compile(r"<!-- include: ([\w./-]+) -->")


def include_files(markdown: str) -> str:
    """Replace each ``<!-- include: PATH -->`` by the repository file at ``PATH`` (relative to
    the repository root) with its first heading dropped: ``CHANGELOG.md``, ``CONTRIBUTING.md``
    and ``LICENSE`` are shown on the site from their one copy."""

    def one(m: re.Match) -> str:
        text = (ROOT / m.group(1)).read_text(encoding="utf-8")
        return re.sub(r"\A# .*\n", "", text)

    return _INCLUDE.sub(one, markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:
    for key, value in binder_urls(config["repo_url"]).items():
        markdown = markdown.replace("{{ " + key + " }}", value)
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, performance_markdown(RESULTS.read_text(encoding="utf-8")))
    return include_files(markdown)
