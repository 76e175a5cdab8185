"""Notebook output needs no CDN: ``nephlab.widgets.extension`` and ``prefer_inline_resources``.

Each check runs in a fresh interpreter (Panel's config is process-global). A pane rendered the
way a notebook renders it (a comm, inline resource mode) and then updated, extended with a new
child, must carry no stylesheet link to the internet or to a server path: every link is a
``data:`` URL whose bytes are the file shipped in Panel's ``dist/`` folder. The control case
(plain ``pn.config.inline = True`` without nephlab) shows the Panel behaviour being corrected:
an updated text pane links ``cdn.holoviz.org`` again (holoviz/panel#8707). The browser-level
offline test is tests/test_jupyterlab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("panel")

RENDER = textwrap.dedent(
    """
    import base64, json, sys
    from pathlib import Path
    import panel as pn
    from bokeh.document import Document
    from bokeh.models import ImportedStyleSheet, UIElement
    from pyviz_comms import Comm
    from panel.io.notebook import patch_inline_stylesheets
    from panel.io.resources import DIST_DIR, set_resource_mode

    if sys.argv[1] == "nephlab":
        import nephlab.widgets as nw
        assert nw.prefer_inline_resources() is True
    else:
        pn.config.inline = True

    def links(root):
        return [st.url for m in root.select({"type": UIElement}) for st in m.stylesheets
                if isinstance(st, ImportedStyleSheet)]

    text = pn.pane.Str("a")
    col = pn.Column(text)
    doc, comm = Document(), Comm()
    with set_resource_mode("inline"):  # what _repr_mimebundle_ does in a notebook
        root = col.get_root(doc, comm)
    for m in root.select({"type": UIElement}):
        patch_inline_stylesheets(m)
    first = links(root)
    text.object = "b"                    # a status line updated by a job
    updated = links(root)
    col.append(pn.pane.Markdown("new"))  # a view added later
    appended = links(root)
    files = sorted(str(p.relative_to(DIST_DIR)) for p in Path(DIST_DIR).rglob("*.css"))
    contents = {base64.b64encode(p.read_bytes()).decode() for p in Path(DIST_DIR).rglob("*.css")}
    data = [u for u in first + updated + appended if u.startswith("data:text/css;base64,")]
    print(json.dumps({"first": first, "updated": updated, "appended": appended,
                      "data_known": all(u.split(",", 1)[1] in contents for u in data)}))
    """
)


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    full_env = {k: v for k, v in os.environ.items() if k != "PANEL_INLINE"}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                         env=full_env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _remote(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith("data:")]


def test_notebook_stylesheets_stay_local_after_updates():
    res = _run(RENDER, "nephlab")
    for stage in ("first", "updated", "appended"):
        assert not _remote(res[stage]), f"{stage}: links that need a server or the internet: {_remote(res[stage])}"
    assert res["updated"], "the updated pane lost its stylesheets"
    assert res["data_known"], "a data: stylesheet is not a file shipped with Panel"


def test_plain_panel_inline_links_the_cdn_after_an_update():
    """The Panel behaviour that nephlab corrects (if this starts failing, Panel fixed it)."""
    res = _run(RENDER, "panel")
    assert not _remote(res["first"])
    assert any(u.startswith("https://cdn.holoviz.org/") for u in res["updated"]), res["updated"]


PRECEDENCE = textwrap.dedent(
    """
    import json, sys
    import panel as pn
    if sys.argv[1] == "user-false":
        pn.config.inline = False
    from nephlab.widgets import Component, prefer_inline_resources  # noqa: F401
    after_import = bool(pn.config.inline)
    print(json.dumps({"after_import": after_import, "call": prefer_inline_resources()}))
    """
)


@pytest.mark.parametrize(
    ("case", "env", "expected"),
    [("default", {}, True), ("user-false", {}, False), ("default", {"PANEL_INLINE": "false"}, False),
     ("default", {"PANEL_INLINE": "true"}, True)],
    ids=["default-on", "user-choice-kept", "env-false-kept", "env-true"],
)
def test_prefer_inline_resources_respects_the_user(case, env, expected):
    res = _run(PRECEDENCE, case, env=env)
    assert res == {"after_import": expected, "call": expected}


DIRECT = textwrap.dedent(
    """
    import json, sys
    import panel as pn
    if sys.argv[1] == "user-false":
        pn.config.inline = False
    from nephlab.widgets.lindblad import LindbladExplorer  # noqa: F401 - a submodule, not the package's names
    print(json.dumps({"inline": bool(pn.config.inline)}))
    """
)


@pytest.mark.parametrize(("case", "expected"), [("default", True), ("user-false", False)])
def test_a_component_imported_from_its_module_also_defaults_to_inline(case, expected):
    assert _run(DIRECT, case) == {"inline": expected}


def test_extension_rejects_non_bool_inline():
    from nephlab.widgets import extension

    with pytest.raises(TypeError, match=r"inline must be True or False, got 'yes'"):
        extension(inline="yes")
