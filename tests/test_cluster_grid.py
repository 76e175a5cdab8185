"""Grid expressions for sweeps: safe parsing (no eval, ever) and validation against a task spec."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from nephlab.cluster import parse_grid, validate_grid
from nephlab.cluster.grid import MAX_AXIS_POINTS, parse_axis
from nephlab.tasks import Param, TaskSpec, get_task


def test_functions_match_numpy():
    g = parse_grid(["F=linspace(0.1,1,50)", "gamma=logspace(-3,0,30)", "x=arange(-1, 1, 0.25)", "n=arange(2,10,3)"])
    assert list(g) == ["F", "gamma", "x", "n"]
    assert g["F"] == np.linspace(0.1, 1, 50).tolist()
    assert g["gamma"] == np.logspace(-3, 0, 30).tolist()
    assert g["gamma"][0] == pytest.approx(1e-3, rel=1e-15) and g["gamma"][-1] == 1.0
    assert g["x"] == np.arange(-1, 1, 0.25).tolist()
    assert g["n"] == [2, 5, 8] and all(type(v) is int for v in g["n"])
    assert all(type(v) is float for v in g["F"] + g["gamma"] + g["x"])


def test_lists_and_single_values():
    g = parse_grid(["model=[qubit,oscillator]", "n=[4, 6]", "s=['a b', \"c\"]", "F=-0.5", "m=qubit", "t=(1e-3, +2)"])
    assert g == {"model": ["qubit", "oscillator"], "n": [4, 6], "s": ["a b", "c"], "F": [-0.5], "m": ["qubit"],
                 "t": [0.001, 2]}
    assert parse_grid("  F = [ -1 , --2 ] ") == {"F": [-1, 2]}
    assert parse_grid("F=[1.0]") == {"F": [1.0]}


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("F", "NAME=EXPR"),
        ("=[1]", "NAME=EXPR"),
        ("1x=[1]", "NAME=EXPR"),
        ("F=linspace(0,1)", "exactly 3 arguments"),
        ("F=linspace(0,1,2.5)", "integer >= 1"),
        ("F=linspace(0,1,0)", "integer >= 1"),
        ("F=logspace(0,400,3)", "not finite"),
        ("F=arange(0,1,0)", "nonzero"),
        ("F=arange(1,0,1)", "no values"),
        ("F=[]", "no values"),
        ("F=[1, 1.0]", "repeats the value"),
        ("F=linspace(0,1,n=3)", "keyword arguments"),
        ("F=linspace(0,1,3,endpoint=False)", "keyword arguments"),
        ("F=linspace(0, 1, 10**9)", "arithmetic"),
        (f"F=linspace(0, 1, {MAX_AXIS_POINTS + 1})", "at most"),
        ("F=arange(0, 1e9, 1)", "at most"),
        ("F=linspace(0,'1',3)", "not a number"),
        ("F=[1, linspace(0,1,2)]", "call inside a list"),
        ("F=[1,", "not valid"),
        ("F=1e999", "not a finite number"),
        ("F=[{1: 2}]", "a dict"),
        ("F=[x[0]]", "subscripting"),
        ("F=np.linspace(0,1,3)", "attribute access"),
    ],
)
def test_malformed_expressions_are_refused(expr, fragment):
    with pytest.raises(ValueError, match="grid expression") as info:
        parse_grid([expr])
    assert fragment in str(info.value)
    assert repr(expr) in str(info.value) or expr.split("=", 1)[-1] in str(info.value) or "NAME=EXPR" in str(info.value)


def test_repeated_name_and_wrong_types():
    with pytest.raises(ValueError, match="'F' is given twice"):
        parse_grid(["F=[1]", "F=[2]"])
    with pytest.raises(TypeError, match="list of strings"):
        parse_grid(3)
    with pytest.raises(TypeError, match="has type int"):
        parse_grid(["F=[1]", 3])


MALICIOUS = [
    "__import__('os').system('touch {marker}')",
    "[__import__('os').system('touch {marker}')]",
    "exec(\"open('{marker}','w')\")",
    "eval(\"open('{marker}','w')\")",
    "open('{marker}', 'w')",
    "linspace.__globals__['os'].system('touch {marker}')",
    "(lambda: open('{marker}','w'))()",
    "[c for c in open('{marker}','w')]",
    "linspace(0, 1, __import__('os').system('touch {marker}'))",
    "getattr(__builtins__, 'open')('{marker}', 'w')",
    "[1, 2][0:1]",
    "f'{{open(\"{marker}\",\"w\")}}'",
    "1 if open('{marker}','w') else 2",
    "(x := open('{marker}','w'))",
]


@pytest.mark.parametrize("template", MALICIOUS)
def test_malicious_strings_execute_nothing(template, tmp_path):
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    expr = "x=" + template.format(marker=marker)
    with pytest.raises(ValueError, match="grid expression") as info:
        parse_grid([expr])
    assert "allowed" in str(info.value) or "not allowed" in str(info.value) or "not valid" in str(info.value)
    assert not marker.exists()


def test_parse_axis_direct():
    assert parse_axis("[true, false]") == ["true", "false"]
    assert parse_axis("[True, False]") == [True, False]
    with pytest.raises(TypeError, match="has type int"):
        parse_axis(1)


SPEC = TaskSpec(
    "demo",
    "demo",
    (
        Param("x", "float", 1.0, "x", minimum=0.0, exclusive_minimum=True),
        Param("n", "int", 4, "levels", minimum=2),
        Param("flag", "bool", False, "switch"),
        Param("model", "str", "a", "preset", choices=("a", "b")),
    ),
)


def test_validate_grid_converts_and_fills_fixed():
    grid, fixed = validate_grid(SPEC, {"x": [1, 2.5], "n": [2.0, 3], "flag": ["true", "False"]}, {"model": "b"})
    assert grid == {"x": [1.0, 2.5], "n": [2, 3], "flag": [True, False]}
    assert type(grid["x"][0]) is float and type(grid["n"][0]) is int
    assert fixed == {"model": "b"}
    grid, fixed = validate_grid(SPEC, {"model": np.array(["a", "b"], dtype=object)})
    assert fixed == {"x": 1.0, "n": 4, "flag": False}
    grid, _ = validate_grid(SPEC, {"x": np.linspace(1, 2, 3)})
    assert grid["x"] == [1.0, 1.5, 2.0] and type(grid["x"][0]) is float


@pytest.mark.parametrize(
    "grid, params, exc, fragments",
    [
        ({"y": [1]}, None, ValueError, ["'y'", "lacks", "parameters: x, n, flag, model"]),
        ({"x": [1]}, {"x": 2}, ValueError, ["'x'", "both swept"]),
        ({"x": [1]}, {"z": 2}, ValueError, ["'z'"]),
        ({"x": []}, None, ValueError, ["'x'", "empty"]),
        ({"x": 1.0}, None, TypeError, ["'x'", "list"]),
        ({"x": "abc"}, None, TypeError, ["'x'", "list"]),
        ({"x": [1, 0]}, None, ValueError, ["'x'", "= 0", "x > 0"]),
        ({"x": [1, float("nan")]}, None, ValueError, ["'x'", "not finite"]),
        ({"n": [2.5]}, None, TypeError, ["'n'", "2.5", "integer"]),
        ({"n": [True]}, None, TypeError, ["'n'", "bool"]),
        ({"model": ["a", "c"]}, None, ValueError, ["'model'", "'c'", "'a', 'b'"]),
        ({"flag": ["yes"]}, None, TypeError, ["'flag'", "'yes'"]),
        ({"x": [1, 1.0]}, None, ValueError, ["'x'", "repeats"]),
        ({}, None, ValueError, ["non-empty"]),
    ],
)
def test_validate_grid_errors_name_parameter(grid, params, exc, fragments):
    with pytest.raises(exc) as info:
        validate_grid(SPEC, grid, params)
    for f in fragments:
        assert f in str(info.value), (f, str(info.value))


def test_lindblad_grid_from_strings():
    spec = get_task("lindblad").spec
    grid, fixed = validate_grid(spec, parse_grid(["F=linspace(0.1,1,4)", "model=[qubit,oscillator]", "n=[4,6]"]))
    assert grid["model"] == ["qubit", "oscillator"] and grid["n"] == [4, 6]
    assert "F" not in fixed and fixed["gamma"] == spec.param("gamma").default
    with pytest.raises(ValueError, match="'foo' which task 'lindblad' lacks"):
        validate_grid(spec, parse_grid("foo=[1,2]"))
    with pytest.raises(ValueError, match="'model'"):
        validate_grid(spec, parse_grid("model=[qubit, harmonium]"))


# --- the grid's total size -----------------------------------------------------------------------


def test_grid_size_is_bounded_before_the_product_is_built():
    import tracemalloc

    from nephlab.cluster.grid import MAX_GRID_POINTS

    exprs = ["F=linspace(0,1,1000000)", "gamma=linspace(0.1,1,1000000)"]
    msg = ("grid has 1000000000000 points (F: 1000000 x gamma: 1000000); the limit is 1000000 "
           "(max_points=/--max-points)")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            parse_grid(exprs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == msg
    assert peak < 400e6  # the two axes (2e6 floats), never their 1e12-point product
    assert MAX_GRID_POINTS == 10**6
    assert parse_grid(["F=linspace(0,1,1000)", "gamma=linspace(0.1,1,1000)"], max_points=10**6)["F"][-1] == 1.0
    with pytest.raises(ValueError, match=r"grid has 6 points \(x: 2 x n: 3\); the limit is 5"):
        validate_grid(SPEC, {"x": [1.0, 2.0], "n": [2, 3, 4]}, max_points=5)
    with pytest.raises(ValueError, match="max_points must be a positive integer, got 0"):
        parse_grid("F=[1]", max_points=0)


def test_sweep_and_cli_refuse_an_oversized_grid(tmp_path, capsys):
    from nephlab.cli import main
    from nephlab.cluster import sweep

    store = tmp_path / "s.zarr"
    with pytest.raises(ValueError, match=r"grid has 6 points \(F: 2 x gamma: 3\); the limit is 4"):
        sweep("lindblad", {"F": [0.1, 0.2], "gamma": [0.1, 0.2, 0.3]}, store=store, max_points=4, progress=False)
    assert main(["sweep", "lindblad", "--grid", "F=linspace(0,1,1000000)", "--grid", "gamma=linspace(0.1,1,1000000)",
                 "--store", str(store)]) == 2
    assert "grid has 1000000000000 points (F: 1000000 x gamma: 1000000); the limit is 1000000" in capsys.readouterr().err
    assert main(["sweep", "lindblad", "--grid", "F=[0.1,0.2]", "--grid", "gamma=[0.1,0.2,0.3]", "--max-points", "5",
                 "--store", str(store)]) == 2
    assert "the limit is 5 (max_points=/--max-points)" in capsys.readouterr().err
    assert not store.exists()
