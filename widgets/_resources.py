"""Served pages load only the BokehJS bundles their models use.

A page served by Panel lists every BokehJS bundle (``bokeh``, ``bokeh-gl``, ``bokeh-widgets``,
``bokeh-tables``, ``bokeh-mathjax``) except MathJax, and MathJax too as soon as the page holds a
Panel HTML pane (every template does). The browser downloads, parses and compiles them in each
fresh session: ``bokeh-mathjax`` alone is 1.8 MB and ``bokeh-gl`` 0.2 MB, 40 % of BokehJS with
Panel's bundle, for pages that show no TeX and no WebGL plot. (``bokeh-tables`` stays: Panel's
own bundle imports it.)

:func:`page_components` keeps an optional bundle only where Bokeh's own test says a model of the
page needs it; :func:`install` makes Panel's server page use it (idempotent). The decision is
taken from the page's models when the page is sent; nephlab's components create no TeX text,
or WebGL plot later (checked for every page by ``tests/test_widgets_app.py``).

Two more things a served page does not need:

- ``es-module-shims`` (38 kB), which Panel lists for every page because its ``ReactiveESM``
  models (``JSComponent``, ``ReactComponent``, ``AnyWidgetComponent``) load ES modules through
  it: :func:`page_scripts` keeps it only where the page holds such a model.
- BokehJS's lookup of CSS variables for every visual property it paints
  (``VisualProperties._get_css_value``: a ``getComputedStyle`` and a custom-property read per
  line, fill, hatch and text property of every axis, grid, title, legend and frame on each paint,
  forcing a style update while the page is being built). It lets a stylesheet override a plot's
  colours with variables such as ``--bk-axis-line-line-color``; neither nephlab, Panel's themes
  (a Bokeh theme, sent as model properties) nor Bokeh's own stylesheets define any, so on
  nephlab's served pages :data:`SKIP_CSS_VISUALS_JS` makes it return ``""`` (no variable), the
  value it returned before. Set ``NEPHLAB_BOKEH_CSS_VISUALS=1`` in the server's environment to
  keep BokehJS's lookup (for a deployment that styles plots through such variables).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from bokeh.embed import bundle as _bk_bundle

__all__ = ["ESM_SHIM", "OPTIONAL_BUNDLES", "SKIP_CSS_VISUALS_JS", "install", "page_components", "page_scripts"]

OPTIONAL_BUNDLES: dict[str, Callable[[set], bool]] = {
    "bokeh-mathjax": _bk_bundle._use_mathjax,
    "bokeh-gl": _bk_bundle._use_gl,
}
"""Optional BokehJS bundles and Bokeh's test whether a set of models uses each."""

ESM_SHIM = "es-module-shims"
"""Part of the URL of the ES-module shim Panel lists for its ``ReactiveESM`` models."""

SKIP_CSS_VISUALS_JS = """(function () {
  try {
    var visual = window.Bokeh.require("core/visuals/visual");
    visual.VisualProperties.prototype._get_css_value = function (name) { return ""; };
  } catch (e) {
    console.warn("nephlab: BokehJS's CSS lookup of visual properties left on", e);
  }
})();"""
"""Run after BokehJS loaded: its visuals read no ``--bk-*`` CSS variable (see the module's docstring)."""

_installed: list[Callable[..., Any]] = []


def _all_models(roots: Iterable[Any]) -> set:
    """Every model that ``roots`` reference. Roots of one document (a served page) take its
    model index, which Bokeh keeps up to date, instead of a walk of the model graph (each walk
    reads every property of every model: ~10 ms per page on a 2-core machine)."""
    roots = list(roots)
    doc = getattr(roots[0], "document", None) if roots else None
    if doc is not None and all(getattr(r, "document", None) is doc for r in roots):
        models = set(doc.models)
        if all(r in models for r in roots):
            return models
    out: set = set()
    for r in roots:
        out |= r.references()
    return out


def page_components(roots: Iterable[Any], components: Iterable[str]) -> list[str]:
    """``components`` (BokehJS bundle names) less the optional ones no model of ``roots`` uses.

    Args:
        roots: Bokeh models (a document's roots).
        components: bundle names, e.g. a ``bokeh.resources.Resources``'s ``components``.

    Returns:
        The names kept, in their order.

    Example:
        >>> from bokeh.models import Div
        >>> from bokeh.plotting import figure
        >>> all_ = ["bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax"]
        >>> page_components([Div(text="plain"), figure()], all_)
        ['bokeh', 'bokeh-widgets', 'bokeh-tables']
        >>> page_components([Div(text=r"$$E = mc^2$$"), figure(output_backend="webgl")], all_)
        ['bokeh', 'bokeh-gl', 'bokeh-widgets', 'bokeh-tables', 'bokeh-mathjax']
    """
    comps = list(components)
    if isinstance(roots, (str, bytes)):
        raise TypeError(f"roots must be an iterable of Bokeh models, got {type(roots).__name__}")
    return _components_of(_all_models(roots), comps)


def _components_of(models: set, comps: list[str]) -> list[str]:
    return [c for c in comps if c not in OPTIONAL_BUNDLES or OPTIONAL_BUNDLES[c](models)]


def page_scripts(roots: Iterable[Any], js_files: Iterable[Any]) -> list[Any]:
    """``js_files`` (script URLs) less Panel's ES-module shim where no model of ``roots`` needs it.

    Args:
        roots: Bokeh models (a document's roots).
        js_files: script URLs (``str`` or ``bokeh.embed.bundle.URL``), e.g. a bundle's ``js_files``.

    Returns:
        The URLs kept, in their order.

    Example:
        >>> from bokeh.models import Div
        >>> files = ["static/js/bokeh.min.js", "static/extensions/panel/bundled/reactiveesm/es-module-shims.min.js"]
        >>> page_scripts([Div(text="plain")], files)
        ['static/js/bokeh.min.js']
        >>> import panel as pn
        >>> from bokeh.document import Document
        >>> class Esm(pn.custom.JSComponent):  # a component loaded as an ES module
        ...     _esm = "export function render() {}"
        >>> len(page_scripts([Esm().get_root(Document())], files))
        2
    """
    if isinstance(roots, (str, bytes)):
        raise TypeError(f"roots must be an iterable of Bokeh models, got {type(roots).__name__}")
    return _scripts_of(_all_models(roots), list(js_files))


def _scripts_of(models: set, files: list[Any]) -> list[Any]:
    from panel.models.esm import ReactiveESM

    if any(isinstance(m, ReactiveESM) for m in models):
        return files
    return [f for f in files if ESM_SHIM not in str(f)]


def install() -> None:
    """Make Panel's served pages list only the bundles :func:`page_components` keeps (idempotent).

    Wraps ``panel.io.server.bundle_resources``, the function Panel's document handler calls to
    list a page's scripts: the page also loses Panel's ES-module shim where :func:`page_scripts`
    says so, and runs :data:`SKIP_CSS_VISUALS_JS` after BokehJS unless the environment variable
    ``NEPHLAB_BOKEH_CSS_VISUALS`` is ``1`` when the page is sent. Everything else about the
    resources (mode, URLs, Panel's own bundle and extensions) is unchanged.

    Example:
        >>> install(); install()
        >>> import panel.io.server as s
        >>> s.bundle_resources.__name__
        'bundle_page_resources'
    """
    import panel.io.server as server
    from panel.io.resources import Resources

    if _installed:
        return
    original = server.bundle_resources

    def bundle_page_resources(roots, resources, *args: Any, **kwargs: Any):
        if resources is not None and args == () and not kwargs.get("reloading"):
            if not isinstance(resources, Resources):
                resources = Resources.from_bokeh(resources, notebook=kwargs.get("notebook", False))
            models = _all_models(roots)  # once for both decisions
            keep = _components_of(models, list(resources.components))
            resources = resources.clone(components=keep)
            kwargs["enable_mathjax"] = "bokeh-mathjax" in keep
            out = original(roots, resources, *args, **kwargs)
            out.js_files = _scripts_of(models, list(out.js_files))
            if os.environ.get("NEPHLAB_BOKEH_CSS_VISUALS") != "1":
                out.js_raw = [SKIP_CSS_VISUALS_JS, *out.js_raw]
            return out
        return original(roots, resources, *args, **kwargs)

    _installed.append(original)
    server.bundle_resources = bundle_page_resources
