"""Components that render in notebooks without internet: no JS or CSS from a CDN at run time.

``pn.extension()`` loads BokehJS and Panel's JS from a CDN by default, so on a firewalled HPC
node or a JupyterHub on a cluster every dashboard is a silently empty output. Panel's
``inline`` mode embeds the JS in the output of the extension cell instead, and inlines the
stylesheets of the first render. Panel 1.9 still hands the browser CDN stylesheet links for
models that change later (a markup pane whose text is updated re-sends its theme stylesheets,
``css/loading.css?v=...`` of new models; holoviz/panel#8707), which fail offline.

- :func:`extension`: ``pn.extension(inline=True)``, the way notebooks load nephlab components.
- :func:`prefer_inline_resources`: make ``inline`` the default (called when a component module is
  imported, whichever way), and route Panel's later stylesheet links to the
  files shipped with Panel, as ``data:`` URLs, so nothing is fetched from the internet.

Served pages (``nephlab serve``) are not affected: the server sends its own ``/static`` links.
"""

from __future__ import annotations

import base64
import functools
import os
from pathlib import Path
from typing import Any

__all__ = ["extension", "prefer_inline_resources"]


def extension(*args: str, inline: bool = True, **kwargs: Any) -> None:
    """Load Panel in a notebook the nephlab way: ``pn.extension(*args, inline=inline, **kwargs)``.

    With ``inline=True`` (the default) BokehJS, Panel's JS and the components' stylesheets are
    embedded in the cell output and sent through the kernel, so dashboards render in JupyterLab,
    Jupyter Notebook and JupyterHub with no internet access (a few MB more in a saved notebook);
    ``inline=False`` loads them from Panel's CDN instead. Call it once per notebook, before the
    first component is displayed; under ``panel serve`` it behaves like ``pn.extension``.

    In a notebook it also makes keys typed into a component reach it in JupyterLab (Enter
    commits a value instead of running a notebook shortcut; :mod:`nephlab.widgets._keyboard`).

    Args:
        *args: Panel extension names (e.g. ``"tabulator"``), passed to ``pn.extension``.
        inline: bool, embed the JS/CSS (True) or load it from the CDN (False).
        **kwargs: further ``pn.extension`` options (``notifications=``, ``design=``, ...).

    Raises:
        TypeError: ``inline`` is not a bool.

    Example:
        >>> import nephlab.widgets as nw  # doctest: +SKIP
        >>> nw.extension()  # doctest: +SKIP
        >>> nw.LindbladExplorer(model="qubit")  # doctest: +SKIP
    """
    if not isinstance(inline, bool):
        raise TypeError(f"inline must be True or False, got {inline!r} ({type(inline).__name__})")
    import panel as pn

    from ._keyboard import install_keyboard_scope

    _patch_stylesheet_links()
    pn.extension(*args, inline=inline, **kwargs)
    if not _served():
        install_keyboard_scope()


def prefer_inline_resources() -> bool:
    """Make Panel send its JS and CSS inline in notebooks (no CDN), unless the user chose.

    Sets ``pn.config.inline = True`` when neither the environment variable ``PANEL_INLINE`` is
    set nor ``pn.config.inline`` was set before (through ``pn.config.inline = ...`` or
    ``pn.extension(inline=...)``), and makes stylesheet links that Panel creates later in a
    notebook point at Panel's own files (as ``data:`` URLs) while ``pn.config.inline`` is on.
    Only notebook output changes: served pages load the same files from the server.
    Idempotent; called when any component module is imported.

    Returns:
        bool: ``pn.config.inline`` after the call.

    Example:
        >>> import panel as pn
        >>> from nephlab.widgets import prefer_inline_resources
        >>> prefer_inline_resources() == pn.config.inline
        True
    """
    import panel as pn

    # Panel keeps a value set through ``pn.config.inline = ...`` / ``pn.extension(inline=...)``
    # in ``_inline_`` (None until someone sets it); PANEL_INLINE overrides both.
    if "PANEL_INLINE" not in os.environ and getattr(pn.config, "_inline_", None) is None:
        pn.config.inline = True
    _patch_stylesheet_links()
    return bool(pn.config.inline)


@functools.lru_cache(maxsize=None)
def _data_url(path: str) -> str:
    return "data:text/css;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _local_stylesheet(url: str) -> str | None:
    """``data:`` URL of the file in Panel's ``dist/`` folder that ``url`` names (a CDN link, or
    the server path ``static/extensions/panel/...`` that Panel rewrites to one), or None."""
    from panel.io.resources import CDN_DIST, DIST_DIR, LOCAL_DIST

    rel = None
    for prefix in (CDN_DIST, LOCAL_DIST, "./" + LOCAL_DIST, "/" + LOCAL_DIST):
        if url.startswith(prefix):
            rel = url[len(prefix):]
            break
    if rel is None:
        return None
    path = Path(DIST_DIR) / rel.split("?", 1)[0].split("#", 1)[0]
    try:
        return _data_url(str(path.resolve(strict=True)))
    except OSError:
        return None


def _served() -> bool:
    """A served (``panel serve``) session is active."""
    import panel as pn

    try:
        doc = pn.state.curdoc
        return doc is not None and getattr(doc, "session_context", None) is not None
    except Exception:  # noqa: BLE001 - no state: treat as not served
        return False


def _in_notebook_inline() -> bool:
    """``pn.config.inline`` is on and no served session is active (a notebook or plain Python)."""
    import panel as pn

    # the served check first: pn.config's attribute lookup is the slower one, and a served page
    # patches ~10 stylesheets per session
    return not _served() and bool(pn.config.inline)


@functools.lru_cache(maxsize=1)
def _patch_stylesheet_links() -> None:
    """Wrap Panel's ``patch_stylesheet`` (once): in notebook inline mode, a CDN stylesheet link
    becomes a ``data:`` URL of the same file from the installed Panel; else Panel's behaviour."""
    import panel.io.resources as resources
    import panel.reactive as reactive

    original = resources.patch_stylesheet
    if getattr(original, "_nephlab_offline", False):
        return

    def patch_stylesheet(stylesheet: Any, dist_url: str) -> None:
        if dist_url == resources.CDN_DIST and _in_notebook_inline():
            try:
                url = str(stylesheet.url)
            except Exception:  # noqa: BLE001 - not an ImportedStyleSheet (or no url yet)
                url = ""
            local = _local_stylesheet(url)
            if local is not None:
                stylesheet.url = local
                return
        original(stylesheet, dist_url)

    patch_stylesheet._nephlab_offline = True  # type: ignore[attr-defined]
    patch_stylesheet.__wrapped__ = original  # type: ignore[attr-defined]
    resources.patch_stylesheet = patch_stylesheet
    if getattr(reactive, "patch_stylesheet", None) is original:
        reactive.patch_stylesheet = patch_stylesheet
