"""Notebooks are committed clean: valid nbformat v4, no outputs, no execution counts.

Runs in well under a second; it reads the JSON only (the notebooks themselves are executed by
``pytest --nbval-lax --nbval-current-env notebooks``). To clean a notebook before committing::

    jupyter nbconvert --clear-output --inplace notebooks/NAME.ipynb
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_IDS = [p.name for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found under {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_IDS)
def test_notebook_is_valid_nbformat_v4(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))  # plain JSON first: a clear error for a broken file
    assert raw.get("nbformat") == 4, f"{path.name}: nbformat is {raw.get('nbformat')!r}, expected 4"
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)  # raises nbformat.ValidationError with the offending field
    assert nb.cells, f"{path.name} has no cells"
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec name is {kernel!r}, expected 'python3'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_IDS)
def test_notebook_has_no_outputs(path: Path):
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
    dirty = [
        (i, len(cell.get("outputs", [])), cell.get("execution_count"))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells (index, n_outputs, execution_count) {dirty} are not clean; run "
        f"`jupyter nbconvert --clear-output --inplace notebooks/{path.name}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_IDS)
def test_notebook_has_no_widget_state(path: Path):
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
    assert "widgets" not in nb.metadata, f"{path.name}: saved ipywidgets state in metadata.widgets; clear it"


def _dirty_notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    return path


def test_checker_catches_a_dirty_notebook(tmp_path: Path):
    """The check above is not vacuous: a notebook with an output fails it."""
    with pytest.raises(AssertionError, match="not clean"):
        test_notebook_has_no_outputs(_dirty_notebook(tmp_path))


def test_checker_catches_invalid_json(tmp_path: Path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [}', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        test_notebook_is_valid_nbformat_v4(bad)
