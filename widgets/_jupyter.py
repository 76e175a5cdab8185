"""One UI thread in a Jupyter kernel: Panel's comm messages are handled on the kernel's main loop.

A component in a notebook is changed from two directions: by the browser (a click, a slider,
Bokeh's ranges and sizes sent back after a redraw), which Panel receives on a comm and applies
to the view's Bokeh document; and by the component's jobs, whose updates
:class:`~nephlab.widgets._base.Job` schedules on the kernel's IO loop. Neither Panel nor Bokeh
locks a document, so both must run on one thread.

Kernels with subshells (ipykernel >= 7 with JupyterLab >= 4.4, whose default sends each comm
target's messages on a subshell of its own) handle a comm message on that subshell's thread,
not on the main one. A Run pressed there, a range update arriving while a job's update is
being applied, and the two threads walk and change the same document at once: a lost update
(the page stays at the state before, though the job finished), "Set changed size during
iteration", or a message whose parts interleave with another's.

:func:`serialize_panel_comms` hands every message of Panel's client comms
(``pyviz_comms.JupyterCommJS``), and of components shown as ipywidgets (``jupyter_bokeh``'s
``BokehModel``), that arrives on another thread to the kernel's main loop, in arrival order, in
the context it arrived with (so the reply still answers that message).
Everything of a dashboard then runs on the main thread, as in kernels without subshells: cells,
comm messages, job updates. As there, a busy cell holds widget events until it returns
(:meth:`~nephlab.widgets._base.Job.wait` in a cell still applies its own job's updates).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["kernel_loop", "on_main_loop", "serialize_panel_comms"]

_MARK = "__nephlab_on_main_loop__"


def kernel_loop() -> Any:
    """The main IO loop of the running IPython kernel (a ``tornado.ioloop.IOLoop``), or None
    outside a kernel (plain Python, a served page).

    Example:
        >>> kernel_loop() is None  # not in a kernel
        True
    """
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.kernelapp import IPKernelApp

        if not IPKernelApp.initialized():
            return None
        return getattr(getattr(IPKernelApp.instance(), "kernel", None), "io_loop", None)
    except Exception:  # noqa: BLE001 - not a standard kernel
        return None


def on_main_loop(handler: Callable[..., Any], loop: Callable[[], Any] = kernel_loop) -> Callable[..., Any]:
    """``handler`` made to run on the thread of ``loop()``: called there directly, or handed to
    that loop (``IOLoop.add_callback``, which keeps the caller's context) from any other thread.

    Args:
        handler: the function; its return value is returned when it runs at once, else None.
        loop: returns the IO loop to run on, or None (then ``handler`` runs where it is called).

    The wrapper counts the calls it queued from other threads in ``handed_over`` (an int).

    Example:
        >>> calls = []
        >>> f = on_main_loop(calls.append, loop=lambda: None)  # no loop: runs here
        >>> f(1); calls
        [1]
        >>> on_main_loop(None)
        Traceback (most recent call last):
        TypeError: handler must be callable, got NoneType
    """
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {type(handler).__name__}")
    if not callable(loop):
        raise TypeError(f"loop must be a callable returning an IO loop or None, got {type(loop).__name__}")
    if getattr(handler, _MARK, False):
        return handler

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        target = loop()
        if target is None or threading.current_thread() is threading.main_thread():
            return handler(*args, **kwargs)
        target.add_callback(functools.partial(handler, *args, **kwargs))
        run.handed_over += 1  # type: ignore[attr-defined]
        return None

    setattr(run, _MARK, True)
    run.handed_over = 0  # type: ignore[attr-defined] - calls queued from other threads (diagnostics)
    return run


def serialize_panel_comms() -> bool:
    """In a kernel, make Panel's comms handle their messages on the kernel's main loop.

    Wraps with :func:`on_main_loop` the two entries of a message from a Panel view in the
    browser:

    - ``pyviz_comms.JupyterCommJS._handle_msg``: a component displayed in JupyterLab or
      Notebook (Panel's own client comm, one per view);
    - ``jupyter_bokeh.widgets.BokehModel._handle_msg``: a component shown as an ipywidget
      (``pn.ipywidget(component)``, or Panel's ``comms='ipywidgets'`` / ``'vscode'``
      rendering), when ``jupyter_bokeh`` is installed. Its comm is opened by the kernel, and
      ipykernel 7 routes the front end's messages on it to the subshell that last sent on it:
      the main one, until code run on a subshell (JupyterLab's "New Subshell Console for
      Notebook" runs on one) touches the widget; from then on, to that subshell's thread.

    A message arriving on a subshell's thread is queued on the main loop in arrival order.
    Idempotent. Called by ``nephlab.widgets`` on import; outside a kernel it does nothing.

    Returns:
        True if the comms are (now) handled on the main loop, False outside a kernel or
        without ``pyviz_comms``.

    Example:
        >>> serialize_panel_comms()  # plain Python: nothing to do
        False
    """
    if kernel_loop() is None:
        return False
    try:
        from pyviz_comms import JupyterCommJS
    except ImportError:
        return False
    JupyterCommJS._handle_msg = on_main_loop(JupyterCommJS._handle_msg)
    try:  # ~60 ms with Panel already imported: once per kernel
        from jupyter_bokeh.widgets import BokehModel
    except ImportError:
        pass
    else:  # ipywidgets' Widget.open binds self._handle_msg when the widget opens its comm
        BokehModel._handle_msg = on_main_loop(BokehModel._handle_msg)
    return True
