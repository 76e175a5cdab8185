"""nephlab.widgets: Panel components over the nephlab science core and execution layer.

Components (each a ``pn.viewable.Viewer``; display it in JupyterLab after :func:`extension`,
in VS Code/Colab through ``pn.ipywidget(component)``, or serve it with ``nephlab serve``):

- :class:`LindbladExplorer`: presets or custom operators, ρ(t) streamed live, exports;
- ``ProtocolDesigner``: drag λ(t), work/dissipation/speed limit, optimal protocols;
- ``LargeDeviationExplorer``: θ(s), I(x), cloning, committors;
- :class:`ClusterPanel`: Dask status, sweep launcher, results browser, resume;
- ``ShearFlowExplorer``: NEMD shear flow of a Lennard-Jones fluid, live, and its flow curve.

Shared machinery: :class:`Component`, :class:`Job`, :func:`controls_from_spec`,
:func:`export_figure`, :func:`export_dataset`, :func:`export_animation`; the app:
:func:`serve`, :func:`routes`, :func:`tabbed_app`.

Names are imported lazily, so ``import nephlab.widgets.cli`` (used by ``nephlab --version``)
loads neither Panel nor JAX.

Offline notebooks: :func:`extension` is ``pn.extension(inline=True)``: BokehJS, Panel's JS and
the components' stylesheets are sent through the kernel, so dashboards render in JupyterLab
without internet (firewalled HPC nodes, JupyterHub on clusters). Importing a name from this
package (not ``nephlab.widgets.cli``) does the same for a later plain ``pn.extension()``
(:func:`prefer_inline_resources`: ``pn.config.inline = True`` unless you chose otherwise, by
``PANEL_INLINE`` in the environment or by setting ``pn.config.inline`` before the import).
``inline`` only changes notebook output; ``nephlab serve`` serves the same files from its own
``/static`` route either way.

Example:
    >>> import nephlab.widgets as nw  # doctest: +SKIP
    >>> nw.extension()  # doctest: +SKIP
    >>> nw.LindbladExplorer(model="qubit")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "LindbladExplorer": "lindblad",
    "ClusterPanel": "cluster",
    "ProtocolDesigner": "protocol",
    "LargeDeviationExplorer": "largedev",
    "ShearFlowExplorer": "md",
    "Component": "_base",
    "Job": "_base",
    "JobContext": "_base",
    "Cancelled": "_base",
    "cluster_client": "_base",
    "export_figure": "_base",
    "export_dataset": "_base",
    "export_animation": "_base",
    "controls_from_spec": "_controls",
    "control_values": "_controls",
    "serve": "app",
    "routes": "app",
    "tabbed_app": "app",
    "build_page": "app",
    "extension": "_offline",
    "prefer_inline_resources": "_offline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'nephlab.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    # every name here loads Panel: make notebook output need no CDN (see _offline)
    importlib.import_module(f"{__name__}._offline").prefer_inline_resources()
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
