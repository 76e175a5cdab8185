"""Smoke test of the Lindblad benchmark harness (nephlab vs QuTiP vs dynamiqs).

Runs one tiny row end to end; checks the output and the agreement of <a†a>(t=10)
between nephlab and each available peer. No assertions on timings.
"""

import importlib.util
import json

import pytest

from nephlab.bench.lindblad import build_problem, main, parse_rows, Row

HAS_QUTIP = importlib.util.find_spec("qutip") is not None
HAS_DYNAMIQS = importlib.util.find_spec("dynamiqs") is not None


def test_parse_rows():
    assert parse_rows("10, 20,batch,10") == [Row(10), Row(20), Row(10, 100)]
    assert parse_rows("batch1000x10,200") == [Row(10, 1000), Row(200)]
    with pytest.raises(ValueError):
        parse_rows("ten")


def test_problem_batch_shapes():
    p = build_problem(Row(4, 3))
    assert p.H.shape == (3, 4, 4) and p.rho0.shape == (4, 4) and p.tlist.shape == (101,)
    assert abs(p.F[0] - 0.1) < 1e-15 and abs(p.F[-1] - 1.0) < 1e-15


@pytest.mark.timeout(120)
def test_harness_end_to_end(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    rc = main(["--rows", "10", "--repeats", "1", "--json", str(out_json), "--markdown"])
    out = capsys.readouterr().out
    assert rc == 0, out

    for code in ("nephlab", "qutip", "dynamiqs"):
        assert code in out
    assert "| row |" in out  # the markdown table
    assert "machine:" in out and "jax backend" in out

    data = json.loads(out_json.read_text())
    (row,) = data["rows"]
    assert row["n"] == 10 and row["batch"] is None
    neph = row["codes"]["nephlab"]
    assert neph["status"] == "ok" and neph["repeats"] == 1
    assert isinstance(neph["info"]["method"], str) and neph["info"]["method"]
    assert neph["first_s"] > 0 and neph["median_s"] > 0

    peers = {"qutip": HAS_QUTIP, "dynamiqs": HAS_DYNAMIQS}
    for peer, installed in peers.items():
        cell = row["codes"][peer]
        if not installed:
            assert cell["status"] == "n/a"
            continue
        assert cell["status"] == "ok", cell["error"]
        agreement = row["agreement"][peer]
        assert agreement["abs"] <= 1e-6, (peer, agreement)
        assert agreement["rel"] <= 1e-5, (peer, agreement)
    if HAS_QUTIP or HAS_DYNAMIQS:
        assert row["ratio_nephlab_over_fastest"] is not None


def test_family_dispatch_runs_the_spectrum_benchmark(capsys):
    """``--family spectrum`` runs nephlab.bench.spectrum with the remaining arguments; the printed
    difference to QuTiP is the benchmark's own correctness check (same spectrum to 1e-6)."""
    assert main(["--family", "spectrum", "--n", "4", "--nw", "21", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith(("spectrum", "correlation_2op_1t"))]
    assert len(rows) == 2
    for ln in rows:
        assert float(ln.rsplit("max|diff|", 1)[1]) < 1e-6, ln


def test_family_unknown_is_refused(capsys):
    assert main(["--family=foo"]) == 2
    assert "expected one of mesolve, mcsolve, gradient, spectrum" in capsys.readouterr().err


def test_first_call_family_runs_fresh_processes(tmp_path, capsys):
    """``--family first_call``: a cold and a warm fresh process per code; the warm nephlab process
    loads its solver from the cache folder the cold one filled, and both codes agree."""
    from nephlab.bench.first_call import parse_rows as first_call_rows

    assert first_call_rows("me20, mc20") == [("me", 20), ("mc", 20)]
    with pytest.raises(ValueError, match="bad row 'x20'"):
        first_call_rows("x20")
    out = tmp_path / "first.json"
    codes = "nephlab,qutip" if HAS_QUTIP else "nephlab"
    assert main(["--family", "first_call", "--rows", "me4", "--codes", codes, "--json", str(out)]) == 0
    assert "| mesolve n=4 | nephlab |" in capsys.readouterr().out
    results = {r["code"]: r for r in json.loads(out.read_text())}
    neph = results["nephlab"]
    assert neph["cold"]["events"].get("misses", 0) >= 1
    assert neph["warm"][0]["events"].get("misses", 0) == 0 and neph["warm"][0]["events"]["hits"] >= 1
    assert neph["warm"][0]["value"] == neph["cold"]["value"]
    if HAS_QUTIP:
        assert abs(results["qutip"]["warm"][0]["value"] - neph["cold"]["value"]) < 1e-6
