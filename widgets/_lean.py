"""A served session's server cost that is not the page's: Bokeh's development checks.

:func:`install` (idempotent; the pages of :func:`nephlab.widgets.app.routes` call it in their first
served session, so ``nephlab serve`` runs with it) turns two Bokeh settings off in the serving
process. Before a session's first byte, Bokeh validates the whole document
(``Document.validate``: every model's ``@error``/``@warning`` checks, whose findings go to the
server's log only) and checks the signature of every property callback as it is registered
(``inspect.signature`` of each of Panel's ~12 ``on_change`` callbacks per model). On a 2-core
machine that was 7 % and 6 % of a warm ``/lindblad`` request's CPU (``py-spy``,
``benchmarks/RESULTS.md``, 2026-12-07). Both are settings meant for development
(``validate_doc``, ``perform_error_diagnostics``); here they are off unless the environment sets
them (``BOKEH_VALIDATE_DOC``, ``BOKEH_PERFORM_ERROR_DIAGNOSTICS``). Every page's document is
validated by the tests instead (``tests/test_widgets_app.py``): a page has the same models in
every session.
"""

from __future__ import annotations

import os

__all__ = ["install"]

_BOKEH_CHECKS = {"perform_document_validation": "BOKEH_VALIDATE_DOC",
                 "perform_error_diagnostics": "BOKEH_PERFORM_ERROR_DIAGNOSTICS"}


def _quiet_bokeh_checks() -> dict[str, bool]:
    from bokeh.settings import settings

    out = {}
    for name, env in _BOKEH_CHECKS.items():
        setting = getattr(settings, name)
        if env not in os.environ:
            setting.set_value(False)
        out[name] = bool(setting())
    return out


_installed: list[dict[str, bool]] = []


def install() -> dict[str, bool]:
    """Turn Bokeh's development checks off in this process, unless the environment sets them
    (idempotent: the first call decides).

    Returns:
        ``{setting: value}`` of the two Bokeh settings now.

    Example:
        >>> install()  # doctest: +SKIP
        {'perform_document_validation': False, 'perform_error_diagnostics': False}
    """
    if _installed:
        return _installed[0]
    out = _quiet_bokeh_checks()
    _installed.append(out)
    return out
