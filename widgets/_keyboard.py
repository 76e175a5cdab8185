"""Keys typed into a component belong to the component, also inside JupyterLab.

JupyterLab (4.1 and later) runs its keyboard shortcuts for key presses anywhere in a notebook
cell, outputs included: Enter in a component's number box is taken by the notebook, so the value
is not committed until the box loses focus, and letters such as ``a`` or ``b`` insert cells.
Lumino, JupyterLab's command layer, skips its shortcuts for a key press whose target lies inside
an element carrying the attribute ``data-lm-suppress-shortcuts``.

:data:`KEYBOARD_JS` listens to key presses on the window, in the capture phase (before Lumino's
own listener): a key pressed inside a nephlab component (an element of class ``nl-component``,
found through the event's composed path, across Panel's shadow roots) marks the component's
output area (``.jp-OutputArea-output``) with that attribute, so the key reaches the component
and Enter in a text or number box commits its value (a ``change`` event, which the browser itself
does not send there), as under ``panel serve``. Keys pressed elsewhere are left alone.
:func:`install_keyboard_scope` sends it to the notebook; :func:`nephlab.widgets.extension`
calls it.
"""

from __future__ import annotations

__all__ = ["KEYBOARD_JS", "SUPPRESS_ATTRIBUTE", "install_keyboard_scope"]

SUPPRESS_ATTRIBUTE = "data-lm-suppress-shortcuts"

KEYBOARD_JS = """
(function () {
  if (window.__nephlab_keyboard_scope) return;
  window.__nephlab_keyboard_scope = true;
  window.addEventListener("keydown", function (ev) {
    var path = ev.composedPath ? ev.composedPath() : [];
    var inside = path.some(function (e) { return e.classList && e.classList.contains("nl-component"); });
    if (!inside) return;
    for (var i = 0; i < path.length; i++) {
      var e = path[i];
      if (e.classList && e.classList.contains("jp-OutputArea-output")) { e.setAttribute("%s", "true"); break; }
    }
    // Enter commits a text or number box: the browser's own commit (a "change" event) does not
    // come inside a JupyterLab output, so send it (a second one is harmless: same value).
    var target = path[0];
    if (ev.key === "Enter" && target && target.tagName === "INPUT" && !ev.isComposing) {
      setTimeout(function () { target.dispatchEvent(new Event("change", { bubbles: true })); }, 0);
    }
  }, true);
})();
""" % SUPPRESS_ATTRIBUTE


def install_keyboard_scope() -> bool:
    """Send :data:`KEYBOARD_JS` to the notebook front end (once per page); True if it was sent.

    Does nothing (returns False) outside a Jupyter kernel, e.g. in plain Python or under
    ``panel serve``.

    Example:
        >>> install_keyboard_scope()   # plain Python: no notebook to send it to
        False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    from IPython.display import Javascript, display

    display(Javascript(KEYBOARD_JS))
    return True
