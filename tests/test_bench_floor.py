"""``benchmarks/page_floor.py``: its reference apps build with the installed Bokeh and Panel, its
command line refuses bad values, and (``ui``) one small run end to end in Chromium measures a
first painted plot for every visit. No assertion on timings: the script is a benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def floor():
    spec = importlib.util.spec_from_file_location("nephlab_page_floor", ROOT / "benchmarks" / "page_floor.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


@pytest.mark.parametrize("variant", ["bokeh", "panel", "template"])
def test_every_reference_app_builds_its_figure(floor, variant):
    from bokeh.document import Document
    from bokeh.io import curdoc
    from bokeh.io.doc import set_curdoc
    from bokeh.models import GlyphRenderer

    doc = Document()
    curdoc_before = curdoc()
    set_curdoc(doc)
    try:
        ns: dict = {}
        exec(compile(textwrap.dedent(floor.APPS[variant][1]), f"{variant}.py", "exec"), ns)  # noqa: S102
    finally:
        set_curdoc(curdoc_before)
    fig = ns["fig"]
    (line,) = [r for r in fig.renderers if isinstance(r, GlyphRenderer)]
    assert len(line.data_source.data["x"]) == 200
    if variant == "bokeh":
        assert doc.roots == [fig]
    elif variant == "panel":
        assert [o.object for o in ns["page"].objects] == [fig]
    else:  # the template: the figure in the main area, six sliders in the sidebar, a header toggle
        assert [o.object for o in ns["page"].main] == [fig]
        assert len(ns["page"].sidebar) == 6 and len(ns["page"].header) == 1


@pytest.mark.parametrize(("argv", "match"), [
    (["--variants", "bokeh,nope"], "--variants='bokeh,nope': allowed is a comma list of bokeh, panel"),
    (["--repeats", "0"], "--repeats=0: allowed is an integer >= 1"),
    (["--rounds", "0"], "--rounds=0: allowed is an integer >= 1"),
    (["--concurrent", "-1"], "--concurrent=-1: allowed is an integer >= 0"),
])
def test_bad_arguments_are_refused_with_what_is_allowed(floor, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        floor.main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.ui
@pytest.mark.timeout(600)
def test_a_small_run_measures_a_painted_plot_for_every_visit(floor, tmp_path, capsys):
    out = tmp_path / "floor.json"
    assert floor.main(["--variants", "bokeh", "--repeats", "1", "--concurrent", "2", "--settle", "0",
                       "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    (r,) = res["variants"]
    visits = r["warm"] + r["concurrent"]
    assert len(visits) == 3
    assert all(v["errors"] == [] and v["canvas_ms"] is not None and v["canvas_ms"] > 0 for v in visits)
    assert r["concurrent_cpu_s"]["browser"] > 0
    assert "| bokeh |" in capsys.readouterr().out
