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


_COUNT = """
import json, sys
import jax.monitoring
import numpy as np

counts = {"hits": 0, "misses": 0}
names = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}
jax.monitoring.register_event_listener(lambda event, **kw: event in names and counts.update({names[event]: counts[names[event]] + 1}))

import nephlab

n = 4
a = np.diag(np.sqrt(np.arange(1.0, n)), 1).astype(complex)
H = a.conj().T @ a + 0.3 * (a + a.conj().T)
rho0 = np.zeros((n, n), complex)
rho0[1, 1] = 1
out = {}
res = nephlab.mesolve(H, rho0, np.linspace(0, 2, 5), [0.5 * a], e_ops=[a.conj().T @ a], method="tsit5")
out["mesolve"] = dict(counts, value=float(res.expect[0][-1]))
counts.update(hits=0, misses=0)
res = nephlab.mcsolve(H, np.eye(n, dtype=complex)[1], np.linspace(0, 2, 5), [0.5 * a], ntraj=8, seed=3,
                      e_ops=[a.conj().T @ a])
out["mcsolve"] = dict(counts, value=float(res.expect[0][-1]))
print(json.dumps(out))
"""


def _files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_second_fresh_process_loads_mesolve_and_mcsolve_from_the_cache(tmp_path):
    """The cache key of the solver programs does not change between processes: the second process
    with the same cache folder finds both programs there (hits, no new entry written)."""
    import json

    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("NEPHLAB_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env["NEPHLAB_JAX_CACHE"] = str(cache)

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", _COUNT], env=env, capture_output=True, text=True, check=True,
                             cwd=tmp_path)
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold = run()
    written = _files(cache)
    for solver in ("mesolve", "mcsolve"):  # the cold process compiled its program and stored it
        assert cold[solver]["misses"] >= 1, (solver, cold)
    warm = run()
    for solver in ("mesolve", "mcsolve"):
        assert warm[solver]["misses"] == 0 and warm[solver]["hits"] >= 1, (solver, warm)
        assert warm[solver]["value"] == cold[solver]["value"]  # the same program: bit-identical results
    assert _files(cache) == written  # nothing new was compiled into the cache
