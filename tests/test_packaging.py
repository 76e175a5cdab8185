"""Packaging, install layout and command line: pyproject.toml, environment.yml, the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    """PEP 503 normalised distribution name ('Dask_JobQueue' -> 'dask-jobqueue')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    """Distribution name of a requirement string such as 'jax[cuda12]>=0.4.36; python_version>"3"'."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert m, f"cannot parse requirement {req!r}"
    return _norm(m.group(1))


def _env_yml_names(path: Path) -> set[str]:
    """Names listed in a conda environment file: the conda dependencies and its pip section.

    A tiny line parser (no PyYAML): every ``- item`` line below ``dependencies:``.
    """
    names: set[str] = set()
    in_deps = False
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw.startswith((" ", "-")):
            in_deps = line.startswith("dependencies:")
            continue
        m = re.match(r"\s*-\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if in_deps and m and not line.strip().endswith(":"):
            names.add(_norm(m.group(1)))
    return names


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_single_source(pyproject):
    from nephlab._version import __version__

    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "nephlab._version.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_environment_yml_matches_pyproject(pyproject):
    env = _env_yml_names(ROOT / "environment.yml")
    assert "python" in env
    wanted = list(pyproject["project"]["dependencies"])
    extras = pyproject["project"]["optional-dependencies"]
    for extra in ("ui", "cluster", "test"):
        wanted += extras[extra]
    # extras that name nephlab itself ("nephlab[cluster]") are satisfied by the editable install
    wanted = [r for r in wanted if _req_name(r) != "nephlab"]
    missing = sorted({_req_name(r) for r in wanted} - env)
    assert not missing, f"environment.yml lacks {missing} (listed in pyproject.toml)"


def test_extras_complete(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    assert {"ui", "cluster", "gpu", "bench", "test", "docs", "dev", "all"} <= set(extras)
    all_extras = re.search(r"\[(.*)\]", extras["all"][0]).group(1).split(",")
    assert set(all_extras) == set(extras) - {"gpu", "dev", "all"}
    assert pyproject["project"]["scripts"]["nephlab"] == "nephlab.cli:main"


def test_pytest_markers_registered(pyproject):
    markers = {m.split(":")[0] for m in pyproject["tool"]["pytest"]["ini_options"]["markers"]}
    assert {"gpu", "slurm", "ui", "slow", "notebooks"} <= markers


def test_widgets_subpackage_importable():
    import nephlab.widgets
    from nephlab.widgets import __doc__ as doc

    assert "nephlab.widgets" in doc
    assert Path(nephlab.widgets.__file__).parent.name == "widgets"


def _nephlab_cmd() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m nephlab.cli``."""
    script = Path(sys.executable).with_name("nephlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nephlab.cli"]


def test_cli_version():
    from nephlab._version import __version__

    out = subprocess.run(
        [*_nephlab_cmd(), "--version"], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == f"nephlab {__version__}"


def test_cli_usage_errors(capsys):
    from nephlab.cli import main

    assert main([]) == 2
    assert main(["demo", "--no-such-option"]) == 2
    assert main(["bench"]) == 2
    assert main(["--version"]) == 0
    assert "nephlab" in capsys.readouterr().out


def test_cli_demo_writes_png(tmp_path):
    out = tmp_path / "tmp.png"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    res = subprocess.run(
        [*_nephlab_cmd(), "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "analytic <n>_ss" in res.stdout
    # the displaced-thermal closed forms are reproduced (default n = 25 levels)
    err = float(re.search(r"max \|<n> - exact\| over t: ([0-9.eE+-]+);", res.stdout).group(1))
    err_s = float(re.search(r"max \|S - exact\| [^:]*: ([0-9.eE+-]+)", res.stdout).group(1))
    assert err < 1e-6 and err_s < 1e-6, res.stdout


def test_demo_analytic_values():
    from nephlab.demo import analytic_n, analytic_n_ss

    assert analytic_n_ss(0.5) == pytest.approx(0.25 / (1 + 0.0025))
    assert analytic_n(1e6, 0.5) == pytest.approx(analytic_n_ss(0.5))
