"""The nephlab app: every component on its own page, served by ``nephlab serve``.

Routes: ``/`` (an index with links), ``/lindblad`` (:class:`~nephlab.widgets.LindbladExplorer`),
``/protocol`` (``ProtocolDesigner``), ``/largedev`` (``LargeDeviationExplorer``),
``/cluster`` (:class:`~nephlab.widgets.ClusterPanel`) and ``/md`` (``ShearFlowExplorer``). Each
session gets fresh components, laid out in one Panel template
(:func:`nephlab.widgets._base.app_template`: controls in the sidebar, status and plots in the
main area, light/dark switch). A session's jobs are cancelled when it
ends; a session whose page closed is destroyed within a second
(:func:`nephlab.widgets._sessions.on_departure`), and one whose page never connected its websocket
after :data:`UNCONNECTED_LIFETIME_MS` (30 s: on a loaded machine a page may take that long to run
its scripts, and a session dropped before its browser connects is built a second time when it
does).

At start, :func:`serve` warms every page in a background thread (:meth:`Component.warm`: the
default results each page shows first are computed and cached, JAX kernels compiled or loaded
from the persistent compilation cache), so first visits do not wait for compilation. With
``serve(freeze=True)`` it also freezes the server's long-lived objects out of Python's garbage
collections once imported and again once warmed (:mod:`nephlab.widgets._heap`); that is off by
default, since it did not make warm visits faster in a browser (benchmarks/RESULTS.md).

- ``nephlab serve [--port 5006] [--address 127.0.0.1] [--show/--no-show]`` calls :func:`serve`;
  websocket origins are restricted to the served ``address:port``.
- ``panel serve widgets/app.py`` also works: the module marks a tabbed app ``.servable()``
  when Bokeh runs it as a script (``__name__`` starts with ``bokeh``); ``?page=lindblad`` opens
  one page directly.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import panel as pn

from ._base import LINK_CSS, app_template, tabs
from ._heap import FREEZER
from ._lean import install as install_lean_sessions
from ._resources import install as install_page_resources

__all__ = ["PAGES", "UNCONNECTED_LIFETIME_MS", "build_page", "index_page", "routes", "serve", "tabbed_app",
           "warm_pages", "websocket_origins"]

PAGES: dict[str, tuple[str, str, str]] = {
    "lindblad": ("Lindblad explorer", "nephlab.widgets.lindblad:LindbladExplorer",
                 "open quantum systems: presets or your own operators, ρ(t), entropy, Bloch sphere"),
    "protocol": ("Protocol designer", "nephlab.widgets.protocol:ProtocolDesigner",
                 "drag λ(t), see work and dissipation; optimal, Pontryagin and GRAPE protocols"),
    "largedev": ("Large-deviation explorer", "nephlab.widgets.largedev:LargeDeviationExplorer",
                 "θ(s), I(x), cloning against the exact SCGF, committors and transition paths"),
    "cluster": ("Cluster panel", "nephlab.widgets.cluster:ClusterPanel",
                "Dask status, sweep launcher with progress, results browser, resume"),
    "md": ("Shear-flow explorer", "nephlab.widgets.md:ShearFlowExplorer",
           "NEMD planar shear of a Lennard-Jones fluid: live stress, velocity profile, particles, flow curve"),
}
"""``route -> (title, "module:Class", one-line description)``."""

UNCONNECTED_LIFETIME_MS = 30_000
"""Bokeh's ``unused_session_lifetime`` under :func:`serve` (ms): how long a session whose page has
no websocket connected is kept. A page that closed is cut at once by
:func:`nephlab.widgets._sessions.on_departure`, so this bounds the pages still loading (and the
index page, which has no component). With 3 s, 7-8 of 8 sessions opened at once on a loaded
2-core machine were dropped before their browsers connected and built again, doubling the
server's work (benchmarks/session_rebuilds.py, RESULTS.md 2026-12-07)."""


def _load(target: str) -> type:
    mod, _, cls = target.partition(":")
    return getattr(importlib.import_module(mod), cls)


def _nav(active: str = "") -> pn.viewable.Viewable:
    links = ['<a href="./">nephlab</a>'] + [
        f'<a href="./{k}" class="nl-nav-{k}">{"<b>" + t + "</b>" if k == active else t}</a>'
        for k, (t, _, _) in PAGES.items()
    ]
    return pn.pane.HTML(" &nbsp;|&nbsp; ".join(links), css_classes=["nl-nav"], sizing_mode="stretch_width",
                        stylesheets=[LINK_CSS])


def build_page(name: str, *, template: bool = True) -> pn.viewable.Viewable:
    """The page of one component (``name`` in :data:`PAGES`): a fresh component in the app template.

    Args:
        name: the page.
        template: the served layout (the app's Panel template, navigation in the header); False
            gives the component's notebook layout with the navigation bar above it (the tabs of
            :func:`tabbed_app`).

    A component whose module cannot be imported shows the import error instead of the page.

    Example:
        >>> type(build_page("cluster")).__name__
        'LocalVanilla'
    """
    if name not in PAGES:
        raise ValueError(f"page must be one of {list(PAGES)}, got {name!r}")
    title, target, _ = PAGES[name]
    try:
        component: Any = _load(target)()
    except Exception as exc:  # noqa: BLE001 - shown on the page, the other pages keep working
        alert = pn.pane.Alert(f"**{title}** is not available: `{type(exc).__name__}: {exc}`", alert_type="danger")
        if not template:
            return pn.Column(_nav(name), alert, sizing_mode="stretch_width", css_classes=[f"nl-page-{name}"])
        return app_template(f"nephlab · {title}", main=[pn.Column(_nav(name), alert, css_classes=[f"nl-page-{name}"])])
    if not template:
        return pn.Column(_nav(name), component, sizing_mode="stretch_width", css_classes=[f"nl-page-{name}"])
    page = component.page(f"nephlab · {title}")
    page.main.insert(0, pn.Column(_nav(name), css_classes=[f"nl-page-{name}"], sizing_mode="stretch_width"))
    return page


def index_page() -> pn.viewable.Viewable:
    """The index: one link and a line of description per page (CSS class ``nl-index``).

    Example:
        >>> "lindblad" in index_page().main[0].objects[1].object
        True
    """
    rows = "\n".join(f"- [{t}](./{k}): {d}" for k, (t, _, d) in PAGES.items())
    body = pn.Column(
        _nav(),
        pn.pane.Markdown(f"A research environment for nonequilibrium physics.\n\n{rows}\n"),
        css_classes=["nl-index"],
        sizing_mode="stretch_width",
    )
    return app_template("nephlab", main=[body])


def warm_pages(names: Any = None) -> dict[str, float]:
    """Call :meth:`Component.warm` of each page's component class; return ``{page: seconds}``.

    A page whose warm-up fails is reported as ``nan`` (its first visit computes instead); once
    Python exits (:data:`~nephlab.widgets._base.EXITING`) the pages left are skipped.

    Example:
        >>> sorted(warm_pages(["cluster"]))
        ['cluster']
    """
    import math
    import time

    from ._base import EXITING

    out: dict[str, float] = {}
    for name in PAGES if names is None else names:
        if EXITING.is_set():  # Python is exiting: leave the rest cold
            break
        t0 = time.perf_counter()
        try:
            _load(PAGES[name][1]).warm()
            out[name] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - logged; the page still works, just slower at first
            print(f"nephlab serve: warming {name!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            out[name] = math.nan
    return out


def warm_in_background(names: Any = None, *, nice: int = 10, log: bool = True,
                       freeze: bool = False) -> threading.Thread:
    """Run :func:`warm_pages` in a daemon thread that yields the CPU to the server's sessions.

    On Linux the thread lowers its own scheduling priority by ``nice`` (threads that it starts,
    such as XLA's compiler threads, inherit it), so a visitor who arrives while the server is
    still warming up gets the CPU first. The result lands in ``thread.result`` and the niceness
    reached in ``thread.niceness`` (None where the platform has no per-thread priority); ``log``
    prints the seconds per page when done. ``freeze``: then freeze the heap out of the garbage
    collections (:data:`nephlab.widgets._heap.FREEZER`; at once, or when the sessions open then
    have ended), so that the warm-up's objects are not walked by every collection.

    Example:
        >>> t = warm_in_background(["cluster"], log=False); t.join()
        >>> sorted(t.result)
        ['cluster']
    """
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
        raise ValueError(f"nice must be an int in [0, 19] (a lower priority), got {nice!r}")

    def body() -> None:
        me = threading.current_thread()
        try:  # on Linux PRIO_PROCESS with a thread id sets that thread's own nice value
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
            me.niceness = os.getpriority(os.PRIO_PROCESS, tid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            me.niceness = None  # type: ignore[attr-defined]
        me.result = warm_pages(names)  # type: ignore[attr-defined]
        if freeze:
            FREEZER.request()
        if log:
            # stderr, with the server's own log: stdout belongs to the caller (a doctest, a notebook)
            print(f"nephlab serve: warmed {me.result}", file=sys.stderr, flush=True)  # type: ignore[attr-defined]

    from ._base import join_at_exit

    # a daemon thread torn down inside JAX at exit would abort the process: exit waits for it
    thread = join_at_exit(threading.Thread(target=body, name="nephlab-warm", daemon=True))
    thread.start()
    return thread


def routes() -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """``{route: page factory}`` for :func:`panel.serve`: ``"/"`` plus one route per page.

    The first served session readies the process (:func:`nephlab.widgets._lean.install`: Bokeh's
    development checks off unless the environment sets them).

    Example:
        >>> sorted(routes())
        ['/', 'cluster', 'largedev', 'lindblad', 'md', 'protocol']
    """
    def counted(factory: Callable[[], pn.viewable.Viewable]) -> Callable[[], pn.viewable.Viewable]:
        def page() -> pn.viewable.Viewable:
            doc = pn.state.curdoc
            served = doc is not None and getattr(doc, "session_context", None) is not None
            if served:
                install_lean_sessions()  # once: Bokeh's development checks off
                FREEZER.session_started(doc)  # heap freezes wait for the open sessions to end
            return factory()
        return page

    out: dict[str, Callable[[], pn.viewable.Viewable]] = {"/": counted(index_page)}
    for k in PAGES:
        out[k] = counted(lambda k=k: build_page(k))
    return out


def tabbed_app() -> pn.viewable.Viewable:
    """All components in one ``Tabs`` (only the visible tab is rendered); for ``panel serve
    widgets/app.py`` and notebooks. ``?page=NAME`` in the URL shows that page alone.

    Example:
        >>> len(tabbed_app())
        5
    """
    page = None
    try:
        if pn.state.location is not None:
            page = pn.state.location.query_params.get("page")
    except Exception:  # noqa: BLE001 - no session
        page = None
    if page in PAGES:
        return build_page(page, template=False)
    return tabs(*[(PAGES[k][0], pn.panel(lambda k=k: build_page(k, template=False))) for k in PAGES],
                dynamic=True, css_classes=["nl-tabs"])


def websocket_origins(address: str, port: int) -> list[str]:
    """The allowed websocket origins for a server on ``address:port``: that origin only (plus its
    ``localhost``/``127.0.0.1`` twin for a loopback address).

    Example:
        >>> websocket_origins("127.0.0.1", 5006)
        ['127.0.0.1:5006', 'localhost:5006']
    """
    out = [f"{address}:{port}"]
    if address in ("127.0.0.1", "localhost"):
        out.append(f"{'localhost' if address == '127.0.0.1' else '127.0.0.1'}:{port}")
    return out


def serve(
    port: int = 5006,
    address: str = "127.0.0.1",
    *,
    show: bool = True,
    start: bool = True,
    extra_origins: tuple[str, ...] = (),
    warm: bool = True,
    freeze: bool = False,
    **server_kwargs: Any,
):
    """Serve the app (blocking when ``start``); return the Bokeh ``Server``.

    Args:
        port: TCP port (0: a free one).
        address: interface to bind; the default is loopback only.
        show: open a browser tab.
        start: run the IO loop (blocks until interrupted).
        extra_origins: further allowed websocket origins (``host:port``), e.g. behind a proxy.
        warm: warm every page in a background thread (:func:`warm_pages`) as the server starts.
        freeze: (off by default: in browser A/B runs on the 2-core machine, warm visits with the
            freeze took more server CPU, 0.99 against 0.53-0.57 s on /lindblad, see
            benchmarks/RESULTS.md, 2026-12-06 18:05 UTC) freeze the objects the process holds
            before it serves (and, with ``warm``, those
            of the warm-up once it ended and no session is open) out of Python's garbage
            collections (:mod:`nephlab.widgets._heap`): Panel's collection after each ended
            session then walks the sessions' objects only, not the half-million of the imports.
        **server_kwargs: Panel server options: ``basic_auth``, ``cookie_secret``,
            ``oauth_provider``, ``oauth_key``, ``oauth_secret``, ``oauth_redirect_uri``,
            ``oauth_encryption_key``, ... (see ``panel serve --help``).

    Example:
        >>> server = serve(port=0, show=False, start=False)  # doctest: +SKIP
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535], got {port!r}")
    if not isinstance(address, str) or not address:
        raise ValueError(f"address must be a non-empty host name or IP, got {address!r}")
    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind((address, 0))
            port = int(s.getsockname()[1])
    pn.extension(notifications=False)
    install_page_resources()
    origins = websocket_origins(address, port) + list(extra_origins)
    if freeze:
        FREEZER.request()  # no session yet: at once
    if warm:
        warm_in_background(freeze=freeze)
    # Bokeh's own names (Panel passes them through; other spellings are ignored silently)
    server_kwargs.setdefault("check_unused_sessions_milliseconds", 1000)
    server_kwargs.setdefault("unused_session_lifetime_milliseconds", UNCONNECTED_LIFETIME_MS)
    server_kwargs.setdefault("liveness", True)
    return pn.serve(
        routes(), port=port, address=address, websocket_origin=origins, show=show, start=start,
        title={"/": "nephlab", **{k: f"nephlab · {v[0]}" for k, v in PAGES.items()}}, verbose=True,
        **server_kwargs,
    )


if __name__.startswith("bokeh"):  # `panel serve widgets/app.py`
    pn.extension()
    install_page_resources()
    tabbed_app().servable(title="nephlab")
