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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bokeh.embed import bundle as _bk_bundle

__all__ = ["OPTIONAL_BUNDLES", "install", "page_components"]

OPTIONAL_BUNDLES: dict[str, Callable[[set], bool]] = {
    "bokeh-mathjax": _bk_bundle._use_mathjax,
    "bokeh-gl": _bk_bundle._use_gl,
}
"""Optional BokehJS bundles and Bokeh's test whether a set of models uses each."""

_installed: list[Callable[..., Any]] = []


def _all_models(roots: Iterable[Any]) -> set:
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
    models = _all_models(roots)
    return [c for c in comps if c not in OPTIONAL_BUNDLES or OPTIONAL_BUNDLES[c](models)]


def install() -> None:
    """Make Panel's served pages list only the bundles :func:`page_components` keeps (idempotent).

    Wraps ``panel.io.server.bundle_resources``, the function Panel's document handler calls to
    list a page's scripts; everything else about the resources (mode, URLs, Panel's own bundle
    and extensions) is unchanged.

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
            keep = page_components(roots, resources.components)
            resources = resources.clone(components=keep)
            kwargs["enable_mathjax"] = "bokeh-mathjax" in keep
        return original(roots, resources, *args, **kwargs)

    _installed.append(original)
    server.bundle_resources = bundle_page_resources
