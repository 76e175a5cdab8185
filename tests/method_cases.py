"""Method lists for the tests, derived from the registry ``nephlab.quantum.methods.METHODS``.

A test that should cover every method parametrises over these lists, so that a newly
registered method is tested without editing the tests. Options come from what each method
declares (``Method.option_names()``), never from its name.
"""

from __future__ import annotations

import pytest

from nephlab.quantum.methods import METHODS

FIXED_STEP = [k for k, c in METHODS.items() if "dt" in c.option_names()]
NOT_FIXED_STEP = [k for k in METHODS if k not in FIXED_STEP]
ADAPTIVE = [k for k, c in METHODS.items() if c.adaptive]


def options_for(name: str, dt: float = 0.01, **tolerances: float) -> dict:
    """Keyword options for method ``name``: ``dt`` if it takes one, and those ``tolerances``
    (``rtol``, ``atol``) it takes."""
    if name == "auto":
        return dict(tolerances)
    opts = METHODS[name].option_names()
    kw = {k: v for k, v in tolerances.items() if k in opts}
    if "dt" in opts:
        kw["dt"] = dt
    return kw


def method_params(names=None) -> list:
    """``pytest.param`` per method; implicit (stiff) methods compile slowly and are marked slow."""
    names = list(METHODS) if names is None else list(names)
    return [pytest.param(k, marks=pytest.mark.slow, id=k) if k in METHODS and METHODS[k].stiff else pytest.param(k, id=k)
            for k in names]
