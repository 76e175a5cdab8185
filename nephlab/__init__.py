"""nephlab: a Jupyter-first research environment for nonequilibrium physics.

The science core (``nephlab.quantum`` and, later, ``stochastic``, ``control``, ``largedev``) is
pure JAX in float64; ``nephlab.widgets`` holds the UI components.
"""

from . import _config
from ._config import device
from .quantum import McResult, Result, mcsolve, mesolve, sesolve, steadystate

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - before packaging lands
    __version__ = "0.0.0"

__all__ = ["McResult", "Result", "__version__", "device", "mcsolve", "mesolve", "sesolve", "steadystate"]
