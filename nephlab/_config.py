"""Process-wide JAX set-up and the one place where nephlab chooses a device.

nephlab computes in float64/complex128 by default, so importing nephlab turns on
``jax_enable_x64``.

Device selection (used by ``mesolve``, ``steadystate``, the tasks' ``device`` parameter, the
CLI, sweeps and the widgets alike):

- :data:`DEVICE_CHOICES` — the choices every spec and control offers: ``auto``, ``cpu``, ``gpu``;
  :func:`resolve_device` also takes ``"<platform>:<index>"`` (``gpu:1``; ``cuda``/``rocm`` are
  aliases of ``gpu``);
- :func:`available_devices` — those of the choices that work on this machine;
- :func:`resolve_device` — a choice -> a JAX device, with a ValueError naming the argument, the
  value and what is allowed, or saying that JAX finds no such device here;
- :func:`device` — the device used when nothing is chosen (``auto``): the environment variable
  ``NEPHLAB_DEVICE`` if set, else JAX's default device (``jax.default_device`` included);
- :func:`device_kind` (``"cpu"``/``"gpu"``, recorded by tasks) and :func:`device_name`
  (``"gpu:0 (NVIDIA H100)"``, recorded by ``mesolve``) — the names written into results.

JAX's persistent compilation cache is on by default (see :func:`compilation_cache_dir`), so a
fresh process — a notebook kernel, a CLI run, a served app — loads compiled solvers from disk
instead of compiling them again. ``NEPHLAB_JAX_CACHE=0`` turns it off; ``NEPHLAB_JAX_CACHE=PATH``
moves it; a ``JAX_COMPILATION_CACHE_DIR`` the user set is respected.
"""

from __future__ import annotations

import os
import re
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

CACHE_ENV_VAR = "NEPHLAB_JAX_CACHE"
_OFF = ("0", "off", "false", "no", "none")


def compilation_cache_dir(environ: Any = None) -> str | None:
    """The folder of JAX's persistent compilation cache that nephlab uses, or None when off.

    Resolution order: ``$NEPHLAB_JAX_CACHE`` (``0``/``off``/``false``/``no``/``none`` turn the
    cache off; any other value is the folder), then a ``$JAX_COMPILATION_CACHE_DIR`` set by the
    user, then ``$XDG_CACHE_HOME/nephlab/jax`` (default ``~/.cache/nephlab/jax``).

    Args:
        environ: the environment mapping to read (default ``os.environ``).

    Example:
        >>> compilation_cache_dir({"NEPHLAB_JAX_CACHE": "off"}) is None
        True
        >>> compilation_cache_dir({"XDG_CACHE_HOME": "/tmp/c"})
        '/tmp/c/nephlab/jax'
    """
    env = os.environ if environ is None else environ
    choice = str(env.get(CACHE_ENV_VAR, "")).strip()
    if choice.lower() in _OFF:
        return None
    if choice:
        return os.path.expanduser(choice)
    if env.get("JAX_COMPILATION_CACHE_DIR"):
        return str(env["JAX_COMPILATION_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nephlab", "jax")


def enable_compilation_cache(path: str | None | bool = True) -> str | None:
    """Turn JAX's persistent compilation cache on (in ``path``) or off; return the folder used.

    nephlab calls this once at import with the default (:func:`compilation_cache_dir`), so the
    app, the CLI and notebooks share one cache. Every compilation taking at least 0.1 s is
    stored (JAX's own default is 1 s, which skips most solver kernels).

    Args:
        path: ``True`` (the default folder), ``False``/``None`` (off), or a folder path.

    Example:
        >>> import tempfile
        >>> enable_compilation_cache(tempfile.mkdtemp()) is not None  # doctest: +SKIP
        True
    """
    if path is True:
        folder = compilation_cache_dir()
    elif path is False or path is None:
        folder = None
    elif isinstance(path, (str, os.PathLike)):
        folder = os.fspath(path)
    else:
        raise TypeError(f"path must be True, False, None or a folder path, got {type(path).__name__}")
    if folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:  # read-only home (some clusters): run without the cache
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


enable_compilation_cache()

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "gpu")
"""The device choices offered everywhere (task specs, CLI, widgets)."""

ENV_VAR = "NEPHLAB_DEVICE"
_ALIASES = {"cuda": "gpu", "rocm": "gpu"}
_FORM = re.compile(r"^(?P<platform>[a-z]+)(?::(?P<index>\d+))?$")
_ALLOWED_TEXT = ("'auto', 'cpu', 'gpu', or '<platform>:<index>' such as 'gpu:0' or 'cuda:0' "
                 "('cuda' and 'rocm' mean 'gpu')")


def _parse(choice: Any, name: str) -> tuple[str, int | None]:
    """``(platform, index)`` of a choice; ``("auto", None)`` for auto."""
    text = choice.strip().lower() if isinstance(choice, str) else None
    m = _FORM.match(text) if text is not None else None
    platform = _ALIASES.get(m["platform"], m["platform"]) if m else None
    if platform not in DEVICE_CHOICES or (platform == "auto" and m["index"] is not None):
        raise ValueError(f"{name} = {choice!r} is not a known device; allowed: {_ALLOWED_TEXT}")
    return platform, None if m["index"] is None else int(m["index"])


def _platform_devices(platform: str) -> list:
    try:
        return list(jax.devices(platform))
    except RuntimeError:
        return []


def available_devices() -> tuple[str, ...]:
    """The :data:`DEVICE_CHOICES` that work on this machine (``auto`` and ``cpu`` always).

    Example:
        >>> available_devices()[:2]
        ('auto', 'cpu')
    """
    return tuple(c for c in DEVICE_CHOICES if c in ("auto", "cpu") or _platform_devices(c))


def _env_choice() -> str:
    return os.environ.get(ENV_VAR, "").strip()


def resolve_device(choice: Any = "auto", name: str = "device"):
    """The JAX device for a user's choice.

    Args:
        choice: ``"auto"`` (:func:`device`), ``"cpu"``, ``"gpu"`` or ``"<platform>:<index>"``
            (``"gpu:1"``, ``"cuda:0"``); case and surrounding blanks are ignored.
        name: how the choice is named in error messages (the argument or parameter).

    Returns:
        A ``jax.Device``.

    Raises:
        ValueError: an unknown choice; a platform or index JAX does not find here (e.g. a GPU
            asked for on a machine without one); or an explicit choice that contradicts the
            environment variable ``NEPHLAB_DEVICE``.

    Example:
        >>> resolve_device("cpu").platform
        'cpu'
        >>> resolve_device("tpu9")
        Traceback (most recent call last):
        ...
        ValueError: device = 'tpu9' is not a known device; allowed: 'auto', 'cpu', 'gpu', or '<platform>:<index>' such as 'gpu:0' or 'cuda:0' ('cuda' and 'rocm' mean 'gpu')
    """
    platform, index = _parse(choice, name)
    env = _env_choice()
    if platform == "auto":
        if env and env.lower() != "auto":
            return resolve_device(env, ENV_VAR)
        default = jax.config.jax_default_device
        if default is None:
            return jax.devices()[0]
        return default if not isinstance(default, str) else resolve_device(default, "jax_default_device")
    if env and env.lower() != "auto" and name != ENV_VAR and _parse(env, ENV_VAR)[0] != platform:
        raise ValueError(f"{name} = {choice!r} conflicts with the environment variable {ENV_VAR}={env!r}; "
                         f"use 'auto' or unset {ENV_VAR}")
    found = _platform_devices(platform)
    if not found:
        here = ", ".join(repr(c) for c in available_devices())
        hint = " (install nephlab[gpu] on a machine with a GPU)" if platform == "gpu" else ""
        raise ValueError(f"{name} = {choice!r}, but JAX finds no {platform} device on this machine; "
                         f"available here: {here}{hint}")
    if index is None:
        return found[0]
    if index >= len(found):
        raise ValueError(f"{name} = {choice!r}, but JAX finds only {len(found)} {platform} device(s) here "
                         f"(indices 0..{len(found) - 1})")
    return found[index]


def device():
    """The JAX device nephlab computes on when nothing is chosen (``resolve_device("auto")``).

    ``NEPHLAB_DEVICE=cpu|gpu|gpu:1`` overrides JAX's default choice.

    Example:
        >>> import nephlab
        >>> nephlab.device().platform in ("cpu", "gpu")
        True
    """
    return resolve_device("auto")


def device_kind(choice: Any = "auto", name: str = "device") -> str:
    """``"cpu"`` or ``"gpu"``: the kind of device a choice resolves to (recorded by tasks).

    Example:
        >>> device_kind("cpu")
        'cpu'
    """
    return "cpu" if resolve_device(choice, name).platform == "cpu" else "gpu"


def device_name(d: Any = None) -> str:
    """A short description of device ``d`` (default :func:`device`), e.g. ``'cpu:0'`` or
    ``'gpu:0 (NVIDIA H100)'`` (recorded by ``mesolve`` in ``Result.stats["device"]``).

    Example:
        >>> device_name(resolve_device("cpu"))
        'cpu:0'
    """
    d = device() if d is None else d
    kind = getattr(d, "device_kind", "")
    name = f"{d.platform}:{d.id}"
    return f"{name} ({kind})" if kind and d.platform != "cpu" else name
