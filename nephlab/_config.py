"""Process-wide JAX set-up and device selection.

nephlab computes in float64/complex128 by default, so importing nephlab turns on
``jax_enable_x64``. The device is JAX's default (GPU when one is present) unless the
environment variable ``NEPHLAB_DEVICE`` is ``cpu`` or ``gpu``.
"""

from __future__ import annotations

import os

import jax

jax.config.update("jax_enable_x64", True)

_ALLOWED_DEVICES = ("cpu", "gpu")


def device():
    """Return the JAX device that nephlab places its computations on.

    ``NEPHLAB_DEVICE=cpu|gpu`` overrides JAX's default choice.

    Example:
        >>> import nephlab
        >>> nephlab.device().platform in ("cpu", "gpu")
        True
    """
    choice = os.environ.get("NEPHLAB_DEVICE", "").strip().lower()
    if not choice:
        return jax.devices()[0]
    if choice not in _ALLOWED_DEVICES:
        raise ValueError(
            f"NEPHLAB_DEVICE={choice!r} is not a known device; allowed: 'cpu', 'gpu' or unset"
        )
    try:
        devices = jax.devices(choice)
    except RuntimeError as err:
        raise ValueError(
            f"NEPHLAB_DEVICE={choice!r} but JAX finds no {choice} device "
            f"(install nephlab[gpu] on a machine with a GPU, or unset NEPHLAB_DEVICE): {err}"
        ) from None
    return devices[0]


def device_name() -> str:
    """A short description of :func:`device`, e.g. ``'cpu:0'`` or ``'gpu:0 (NVIDIA H100)'``."""
    d = device()
    kind = getattr(d, "device_kind", "")
    name = f"{d.platform}:{d.id}"
    return f"{name} ({kind})" if kind and d.platform != "cpu" else name
