"""JAX's persistent compilation cache: on by default under the user cache folder, with a switch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nephlab._config import compilation_cache_dir, enable_compilation_cache

_SOLVE = (
    "import numpy as np, nephlab\n"
    "from nephlab.quantum import destroy\n"
    "a = destroy(4)\n"
    "r = nephlab.mesolve(a.conj().T @ a, np.diag([0, 1.0, 0, 0]).astype(complex), np.linspace(0, 1, 5),"
    " [a])\n"
    "import jax; print(jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir)\n"
)


def _run(env_extra: dict[str, str], tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NEPHLAB_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _SOLVE], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    return out.stdout.strip().splitlines()[-1]


def test_resolution_order():
    assert compilation_cache_dir({}).endswith(os.path.join(".cache", "nephlab", "jax"))
    assert compilation_cache_dir({"XDG_CACHE_HOME": "/x"}) == "/x/nephlab/jax"
    assert compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "/j", "XDG_CACHE_HOME": "/x"}) == "/j"
    assert compilation_cache_dir({"NEPHLAB_JAX_CACHE": "/n", "JAX_COMPILATION_CACHE_DIR": "/j"}) == "/n"
    for off in ("0", "off", "False", "no", "none"):
        assert compilation_cache_dir({"NEPHLAB_JAX_CACHE": off, "JAX_COMPILATION_CACHE_DIR": "/j"}) is None


def test_bad_path_type():
    with pytest.raises(TypeError, match="path must be True, False, None or a folder path"):
        enable_compilation_cache(3)


def test_a_fresh_process_writes_the_cache_by_default_and_not_when_off(tmp_path):
    cache = tmp_path / "xdg"
    line = _run({"XDG_CACHE_HOME": str(cache)}, tmp_path)
    assert line == f"True {cache / 'nephlab' / 'jax'}"
    entries = list((cache / "nephlab" / "jax").iterdir())
    assert entries, "the solve compiled kernels but none reached the persistent cache"

    off = tmp_path / "off"
    line = _run({"XDG_CACHE_HOME": str(off), "NEPHLAB_JAX_CACHE": "off"}, tmp_path)
    assert line.startswith("False")
    assert not (off / "nephlab").exists()
