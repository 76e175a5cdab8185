"""Save and load trained policies; the small pretrained policies shipped with nephlab.

A checkpoint is one file: the 8-byte magic ``b"NEPHPOL1"``, the length of a UTF-8 JSON header
(8 bytes, little endian), the header, then the flax-serialised (msgpack) network parameters.
The header records the architecture, the environment (its ``spec()`` and parameters), the
observation/action transforms, the shapes of all parameters, the nephlab version and any
user metadata (e.g. the recorded performance of a pretrained policy).
"""

from __future__ import annotations

import json
import os
import struct as _struct
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from .._version import __version__
from .envs import _dataclass_fields
from .networks import Policy

__all__ = ["load_policy", "policy_header", "pretrained", "pretrained_names", "pretrained_path", "save_policy"]

_MAGIC = b"NEPHPOL1"
_PRETRAINED = Path(__file__).parent / "pretrained"


def _shapes(params: Any) -> dict:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(k): list(np.shape(v)) for k, v in flat}


def save_policy(policy: Policy, path: str | os.PathLike, *, env_params: Any = None, metadata: dict | None = None,
                overwrite: bool = False) -> Path:
    """Write ``policy`` to ``path`` (one file; see the module docstring).

    Args:
        policy: a :class:`~nephlab.learn.networks.Policy`.
        path: file to write (an existing file is refused unless ``overwrite=True``).
        env_params: the environment parameters it was trained on (recorded in the header).
        metadata: JSON-serialisable dict stored under ``header["metadata"]``.

    Returns:
        the path written.

    Example:
        >>> from nephlab.learn import TrapEnv, make_policy
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "p.policy")
        >>> _ = save_policy(make_policy(TrapEnv("translation"), hidden=(4,)), f)
        >>> policy_header(f)["arch"]["hidden"]
        [4]
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a nephlab.learn Policy, got {type(policy).__name__}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"path {str(path)!r} exists; pass overwrite=True to replace it")
    arch = {k: (list(v) if isinstance(v, tuple) else v) for k, v in policy.arch}
    header = {
        "format": "nephlab-policy", "format_version": 1, "nephlab_version": __version__,
        "arch": arch,
        "env": json.loads(policy.env_spec) if policy.env_spec else None,
        "env_params": None if env_params is None else _dataclass_fields(env_params),
        "obs_offset": np.asarray(policy.obs_offset).tolist(), "obs_scale": np.asarray(policy.obs_scale).tolist(),
        "act_offset": np.asarray(policy.act_offset).tolist(), "act_scale": np.asarray(policy.act_scale).tolist(),
        "param_shapes": _shapes(policy.params),
        "metadata": metadata or {},
    }
    h = json.dumps(header).encode()
    body = serialization.to_bytes(jax.tree_util.tree_map(np.asarray, policy.params))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(_MAGIC + _struct.pack("<Q", len(h)) + h + body)
    os.replace(tmp, path)
    return path


def _read(path: str | os.PathLike) -> tuple[dict, bytes]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a policy file")
    raw = p.read_bytes()
    if raw[:8] != _MAGIC or len(raw) < 16:
        raise ValueError(f"path {str(path)!r} is not a nephlab policy checkpoint (bad magic bytes)")
    (n,) = _struct.unpack("<Q", raw[8:16])
    try:
        header = json.loads(raw[16:16 + n].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"path {str(path)!r}: the checkpoint header is damaged") from None
    return header, raw[16 + n:]


def policy_header(path: str | os.PathLike) -> dict:
    """The JSON header of a checkpoint (architecture, env, version, metadata).

    Example:
        >>> policy_header(_PRETRAINED / "trap-translation.policy")["env"]["problem"]
        'translation'
    """
    return _read(path)[0]


def _diff(a: dict, b: dict) -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k}: checkpoint {a.get(k)!r} vs expected {b.get(k)!r}")
    return out


def load_policy(path: str | os.PathLike, like: Policy | None = None) -> Policy:
    """Read a policy written by :func:`save_policy`.

    Args:
        path: the checkpoint file.
        like: optional template policy; the checkpoint must have its architecture (layer
            widths, activation, observation and action sizes), else ``ValueError`` names what
            differs. Without it the architecture of the header is used.

    Returns:
        the :class:`~nephlab.learn.networks.Policy`.

    Example:
        >>> pol = load_policy(_PRETRAINED / "trap-translation.policy")
        >>> pol(jnp.array([0.0, 0.0])).shape
        (1,)
    """
    header, body = _read(path)
    arch = header["arch"]
    tuple_arch = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in arch.items())
    if like is not None:
        want = {k: (list(v) if isinstance(v, tuple) else v) for k, v in like.arch}
        d = _diff(arch, want)
        if d:
            raise ValueError(f"checkpoint {str(path)!r} has a different architecture: " + "; ".join(d))
    from .networks import ActorCritic

    net = ActorCritic(action_size=arch["action_size"], hidden=tuple(arch["hidden"]), activation=arch["activation"])
    target = net.init(jax.random.key(0), jnp.zeros(arch["observation_size"], jnp.float64))
    want_shapes = _shapes(target)
    d = _diff(header["param_shapes"], want_shapes)
    if d:
        raise ValueError(f"checkpoint {str(path)!r}: parameter shapes do not match the architecture: " + "; ".join(d))
    try:
        params = serialization.from_bytes(target, body)
    except Exception as exc:  # noqa: BLE001 - msgpack/flax errors on damaged data
        raise ValueError(f"checkpoint {str(path)!r}: the parameter data is damaged ({exc})") from None
    got = _shapes(params)
    if got != want_shapes:
        raise ValueError(f"checkpoint {str(path)!r}: stored parameters have shapes {got}, expected {want_shapes}")
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), params)
    a = lambda k: jnp.asarray(header[k], jnp.float64)  # noqa: E731
    return Policy(params=params, obs_offset=a("obs_offset"), obs_scale=a("obs_scale"), act_offset=a("act_offset"),
                  act_scale=a("act_scale"), arch=tuple_arch,
                  env_spec=json.dumps(header["env"]) if header.get("env") else "")


def pretrained_names() -> list[str]:
    """Names of the policies shipped in ``nephlab/learn/pretrained/``.

    Example:
        >>> "trap-translation" in pretrained_names()
        True
    """
    return sorted(p.name[: -len(".policy")] for p in _PRETRAINED.glob("*.policy"))


def pretrained(name: str) -> Policy:
    """Load a shipped pretrained policy by name (see :func:`pretrained_names`).

    Its header (``policy_header(pretrained_path(name))``, or :func:`policy_header` on the file)
    records the environment, its parameters and the performance measured when it was saved
    (``metadata["performance"]``). ``policy.env()`` rebuilds the environment.

    Example:
        >>> pol = pretrained("trap-translation")
        >>> pol.env()
        TrapEnv('translation', feedback=False, exact_moments=False)
    """
    names = pretrained_names()
    if name not in names:
        raise ValueError(f"name must be one of {names}, got {name!r}")
    return load_policy(_PRETRAINED / f"{name}.policy")


def pretrained_path(name: str) -> Path:
    """The file of a shipped policy.

    Example:
        >>> pretrained_path("trap-translation").suffix
        '.policy'
    """
    if name not in pretrained_names():
        raise ValueError(f"name must be one of {pretrained_names()}, got {name!r}")
    return _PRETRAINED / f"{name}.policy"

