"""``nephlab run``, ``nephlab tasks`` and ``nephlab estimate`` through ``nephlab.cli.main`` and
one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import xarray as xr

from nephlab.cli import main
from nephlab.tasks import get_task, run_task


def test_run_writes_netcdf_with_params_file_and_overrides(tmp_path, capsys):
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"F": 0.1, "n": 5, "n_times": 4, "model": "qubit"}))
    out = tmp_path / "r.nc"
    rc = main(["run", "lindblad", "--params", str(pfile), "F=0.3", "model=oscillator", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "task lindblad" in text and f"wrote {out.resolve()}" in text and "n_mean(time)" in text
    ds = xr.load_dataset(out, engine="h5netcdf")
    p = json.loads(ds.attrs["params"])
    assert p["F"] == 0.3 and p["n"] == 5 and p["model"] == "oscillator"  # key=value wins over the file
    ref = run_task("lindblad", p)
    np.testing.assert_allclose(ds.n_mean.values, ref.n_mean.values, atol=1e-12)
    # an existing --out is refused before computing, then replaced with --overwrite
    assert main(["run", "lindblad", "n=3", "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["run", "lindblad", "n=3", "n_times=2", "--out", str(out), "--overwrite"]) == 0
    assert xr.load_dataset(out, engine="h5netcdf").sizes["row"] == 3
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temp left


def test_run_writes_zarr_and_bool_str_parsing(tmp_path, capsys):
    out = tmp_path / "r.zarr"
    assert main(["run", "optimal_protocol", "problem=stiffness", "k_f=3", "n_times=5", "--out", str(out)]) == 0
    ds = xr.open_zarr(out).load()
    assert ds.sizes["time"] == 5 and json.loads(ds.attrs["params"])["k_f"] == 3.0
    assert "work =" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "nope"], ["unknown task 'nope'", "lindblad"]),
        (["run", "lindblad", "foo=1"], ["has no parameter 'foo'", "gamma"]),
        (["run", "lindblad", "gamma=-1"], ["'gamma'", "-1", "gamma > 0"]),
        (["run", "lindblad", "n=2.5"], ["'n'", "2.5", "integer"]),
        (["run", "lindblad", "gamma=nan"], ["'gamma'", "not finite"]),
        (["run", "lindblad", "model=laser"], ["'model'", "'laser'", "'qubit'"]),
        (["run", "lindblad", "F"], ["'F'", "key=value"]),
        (["run", "lindblad", "F=1", "F=2"], ["'F'", "twice"]),
        (["run", "lindblad", "--out", "x.csv"], ["x.csv", ".nc", ".zarr"]),
        (["estimate", "lindblad", "method=euler"], ["'method'", "'euler'"]),
        (["tasks", "nope"], ["unknown task 'nope'"]),
    ],
)
def test_bad_input_exit_2_with_named_message(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)


def test_params_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{F: 1}")
    assert main(["run", "lindblad", "--params", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    assert main(["run", "lindblad", "--params", str(arr)]) == 2
    assert "JSON object" in capsys.readouterr().err
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"n": true}')
    assert main(["run", "lindblad", "--params", str(wrong)]) == 2
    assert "'n' = True" in capsys.readouterr().err
    assert main(["run", "lindblad", "--params", str(tmp_path / "missing.json")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_tasks_listing_detail_and_schema(capsys):
    assert main(["tasks"]) == 0
    text = capsys.readouterr().out
    for name in ("lindblad", "steadystate", "scgf", "committor"):
        assert name in text
    assert "gamma=0.5 [1/time]" in text
    assert main(["tasks", "lindblad"]) == 0
    text = capsys.readouterr().out
    assert "gamma > 0" in text and "2 <= n <= 200" in text and "vectorised batches" in text
    assert main(["tasks", "lindblad", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == get_task("lindblad").spec.json_schema()
    jsonschema.Draft202012Validator(schema).validate({"F": 0.3, "model": "qubit"})
    assert main(["tasks", "--schema"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"lindblad", "pmp"}


def test_estimate_text_and_json(capsys):
    assert main(["estimate", "lindblad", "n=20"]) == 0
    text = capsys.readouterr().out
    assert "memory:" in text and "executor: in-process" in text and "device:   cpu" in text
    assert main(["estimate", "steadystate", "model=spin_chain", "n=8", "method=direct", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["task"] == "steadystate" and est["device"] == "gpu" and est["params"]["n"] == 8
    assert est["memory_bytes"] == 3 * 16 * 256**4 and est["executor"] == "cluster"  # 206 GB dense Liouvillian
    assert main(["estimate", "steadystate", "model=spin_chain", "n=8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "cpu"  # auto -> matrix-free GMRES


def test_real_subprocess_nephlab_run(tmp_path):
    exe = Path(sys.executable).parent / "nephlab"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nephlab.cli"]
    out = tmp_path / "q.nc"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd + ["run", "steadystate", "model=qubit", "F=0.4", "gamma=1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out.resolve()}" in proc.stdout
    ds = xr.load_dataset(out, engine="h5netcdf")
    assert float(ds.n_ss) == pytest.approx(0.16 / (0.25 + 0.32), abs=1e-10)
    assert ds.attrs["task"] == "steadystate"
    bad = subprocess.run(cmd + ["run", "steadystate", "gamma=0"], capture_output=True, text=True, timeout=600, env=env)
    assert bad.returncode == 2 and "'gamma'" in bad.stderr and "Traceback" not in bad.stderr


def test_one_parser_of_key_value_and_params_for_every_cli(tmp_path, capsys):
    """``run``, ``sweep`` and ``submit`` share one ``parse_assignments`` and one ``load_params``:
    the same input gets the same message from each."""
    import nephlab.cluster.cli as sweep_cli
    import nephlab.cluster.jobs_cli as jobs_cli
    import nephlab.tasks.cli as tasks_cli

    assert sweep_cli.parse_assignments is tasks_cli.parse_assignments
    assert sweep_cli.load_params is tasks_cli.load_params
    assert not hasattr(jobs_cli, "parse_assignments") and not hasattr(sweep_cli, "json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    missing = tmp_path / "missing.json"
    store = str(tmp_path / "never.zarr")
    commands = {  # key=value right after the task name (the documented place)
        "run": ["run", "lindblad"],
        "sweep": ["sweep", "lindblad", "--grid", "gamma=[0.1]", "--store", store],
        "submit": ["submit", "lindblad", "--scheduler", "slurm", "--dry-run"],
    }
    for extra, fragment in [
        (["--params", str(bad)], f"--params {str(bad)!r} is not valid JSON"),
        (["--params", str(missing)], f"--params {str(missing)!r} cannot be read"),
        (["F=1", "F=2"], "parameter 'F' is given twice"),
        (["F"], "argument 'F' is not of the form key=value (parameters of task 'lindblad'"),
    ]:
        for name, argv in commands.items():
            assert main(argv[:2] + extra + argv[2:]) == 2, (name, extra)
            err = capsys.readouterr().err
            assert fragment in err and err.count("\n") == 1, (name, err)
    assert not Path(store).exists()
