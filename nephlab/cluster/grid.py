"""Safe parsing of sweep grids: ``"F=linspace(0.1,1,50)"``, ``"model=[qubit,oscillator]"``.

A grid expression is ``NAME=EXPR`` where ``EXPR`` is one of

- ``linspace(a, b, n)``: ``n`` evenly spaced values from ``a`` to ``b`` inclusive (NumPy);
- ``logspace(a, b, n)``: ``n`` values from ``10**a`` to ``10**b`` (exponents, as in NumPy);
- ``arange(a, b, step)``: ``a, a+step, ...`` below ``b`` (NumPy's ``arange``);
- an explicit list ``[0.1, 0.2]``, ``[qubit, oscillator]`` or ``['qubit', "oscillator"]``
  (bare words are strings; ``true``/``false`` are strings too until a task's spec makes them
  bools);
- a single value ``0.5`` or ``qubit`` (a one-point axis).

The text is parsed with :func:`ast.parse` in ``eval`` mode and only these node kinds are
accepted: numbers, strings, bare names inside lists, unary minus/plus on numbers, lists and
tuples, and calls of the three functions above with positional number arguments. Nothing is
ever evaluated by Python: anything else (attribute access, other calls, subscripts, operators,
keyword arguments, ...) raises ``ValueError`` naming the expression.

:func:`validate_grid` then checks a parsed grid against a task's spec.

The grid's total size (the product of the axis lengths) is bounded too: by default at most
:data:`MAX_GRID_POINTS` points (``max_points=`` in Python, ``--max-points`` on the command line).
The product is checked from the axis lengths alone, before any point is built.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["parse_grid", "parse_axis", "validate_grid", "check_grid_size", "MAX_AXIS_POINTS", "MAX_GRID_POINTS"]

MAX_AXIS_POINTS = 1_000_000
"""Largest number of values one grid axis may have (a guard against typos like ``1e9``)."""
MAX_GRID_POINTS = 1_000_000
"""Default largest number of points of a whole grid (the product of its axis lengths)."""

_FUNCS = ("linspace", "logspace", "arange")
Scalar = float | int | str | bool


def check_grid_size(lengths: Mapping[str, int], max_points: int = MAX_GRID_POINTS) -> int:
    """The number of points of a grid with axis ``lengths``; ValueError above ``max_points``.

    Only the lengths are used, so an oversized grid is refused before anything is allocated.

    Example:
        >>> check_grid_size({"F": 50, "gamma": 20})
        1000
        >>> check_grid_size({"F": 10**6, "gamma": 10**6})
        Traceback (most recent call last):
        ...
        ValueError: grid has 1000000000000 points (F: 1000000 x gamma: 1000000); the limit is 1000000 (max_points=/--max-points)
    """
    from nephlab._validate import integer

    limit = integer(max_points, "max_points")
    total = math.prod(int(n) for n in lengths.values())
    if total > limit:
        shape = " x ".join(f"{k}: {int(n)}" for k, n in lengths.items())
        raise ValueError(f"grid has {total} points ({shape}); the limit is {limit} (max_points=/--max-points)")
    return total


def parse_grid(exprs: str | Iterable[str], *, max_points: int = MAX_GRID_POINTS) -> dict[str, list[Scalar]]:
    """Parse ``NAME=EXPR`` grid expressions into ``{name: [values, ...]}`` (plain Python values).

    Args:
        exprs: one expression or an iterable of them, e.g. ``["F=linspace(0.1,1,50)",
            "gamma=logspace(-3,0,30)", "model=[qubit,oscillator]", "n=[4,6]"]``.
        max_points: largest allowed number of grid points (product of the axis lengths);
            see :func:`check_grid_size`.

    Returns:
        dict in the order given; each value is a non-empty list of floats, ints or strings.

    Raises:
        ValueError: naming the expression, for malformed text, a forbidden construct,
            a repeated name, an empty or too long axis, repeated values on one axis, or more
            than ``max_points`` points in all.
        TypeError: when ``exprs`` is not a string or an iterable of strings.

    Example:
        >>> parse_grid(["F=linspace(0, 1, 3)", "gamma=logspace(-2, 0, 3)", "model=[qubit, oscillator]"])
        {'F': [0.0, 0.5, 1.0], 'gamma': [0.01, 0.1, 1.0], 'model': ['qubit', 'oscillator']}
        >>> parse_grid("n=arange(2, 8, 2)")
        {'n': [2, 4, 6]}
        >>> parse_grid("x=__import__('os').system('true')")
        Traceback (most recent call last):
        ...
        ValueError: grid expression "x=__import__('os').system('true')": attribute access is not allowed; allowed: linspace(a,b,n), logspace(a,b,n), arange(a,b,step), [v1, v2, ...] or a single value
    """
    if isinstance(exprs, str):
        exprs = [exprs]
    if isinstance(exprs, Mapping) or not isinstance(exprs, Iterable):
        raise TypeError(f"grid expressions must be a string or a list of strings, got {type(exprs).__name__}")
    grid: dict[str, list[Scalar]] = {}
    for text in exprs:
        if not isinstance(text, str):
            raise TypeError(f"grid expression {text!r} has type {type(text).__name__}; allowed: a string 'name=expr'")
        name, sep, rhs = text.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(
                f"grid expression {text!r} must look like NAME=EXPR with NAME a parameter name, "
                "e.g. 'F=linspace(0.1,1,50)'"
            )
        if name in grid:
            raise ValueError(f"grid expression {text!r}: parameter {name!r} is given twice")
        grid[name] = parse_axis(rhs, _label=text)
    check_grid_size({k: len(v) for k, v in grid.items()}, max_points)
    return grid


_ALLOWED = "allowed: linspace(a,b,n), logspace(a,b,n), arange(a,b,step), [v1, v2, ...] or a single value"


def parse_axis(expr: str, *, _label: str | None = None) -> list[Scalar]:
    """Parse the right-hand side of one grid expression into a list of values.

    Example:
        >>> parse_axis("[0.1, -2, 1e-3]")
        [0.1, -2, 0.001]
        >>> parse_axis("arange(0, 1, 0.25)")
        [0.0, 0.25, 0.5, 0.75]
    """
    label = _label if _label is not None else expr
    if not isinstance(expr, str):
        raise TypeError(f"grid expression {label!r} has type {type(expr).__name__}; allowed: a string")
    if len(expr) > 100_000:
        raise ValueError(f"grid expression of {len(expr)} characters is too long (at most 100000)")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"grid expression {label!r} is not valid: {err.msg}; {_ALLOWED}") from None
    node = tree.body
    if isinstance(node, ast.Call):
        values = _call(node, label)
    elif isinstance(node, (ast.List, ast.Tuple)):
        values = [_element(e, label) for e in node.elts]
    else:
        values = [_element(node, label)]
    if not values:
        raise ValueError(f"grid expression {label!r} gives no values; an axis needs at least one")
    if len(values) > MAX_AXIS_POINTS:
        raise ValueError(f"grid expression {label!r} gives {len(values)} values; at most {MAX_AXIS_POINTS} per axis")
    seen: set = set()
    for v in values:
        key = (type(v).__name__ == "str", v)
        if key in seen:
            raise ValueError(f"grid expression {label!r} repeats the value {v!r}; values on one axis must be distinct")
        seen.add(key)
    return values


def _refuse(node: ast.AST, label: str) -> ValueError:
    what = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.BinOp: "arithmetic",
        ast.Lambda: "lambda",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.Starred: "unpacking",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.JoinedStr: "an f-string",
    }.get(type(node), f"{type(node).__name__} syntax")
    return ValueError(f"grid expression {label!r}: {what} is not allowed; {_ALLOWED}")


def _number(node: ast.AST, label: str) -> float | int:
    """A literal int/float, possibly with unary minus/plus; anything else is refused."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        v = sign * node.value
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"grid expression {label!r}: {v!r} is not a finite number")
        return v
    if isinstance(node, ast.Constant):
        raise ValueError(f"grid expression {label!r}: {node.value!r} is not a number; function arguments must be numbers")
    raise _refuse(node, label)


def _element(node: ast.AST, label: str) -> Scalar:
    """One list element or single value: a number, a string, or a bare word (as a string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        raise ValueError(
            f"grid expression {label!r}: a call inside a list is not allowed; " + _ALLOWED
        )
    if isinstance(node, (ast.Constant, ast.UnaryOp)):
        return _number(node, label)
    raise _refuse(node, label)


def _call(node: ast.Call, label: str) -> list[Scalar]:
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func, label)
    fname = node.func.id
    if fname not in _FUNCS:
        raise ValueError(f"grid expression {label!r}: function {fname!r} is not allowed; {_ALLOWED}")
    if node.keywords:
        raise ValueError(f"grid expression {label!r}: keyword arguments are not allowed in {fname}(); {_ALLOWED}")
    if len(node.args) != 3:
        raise ValueError(f"grid expression {label!r}: {fname}() takes exactly 3 arguments, got {len(node.args)}")
    a, b, c = (_number(x, label) for x in node.args)
    if fname in ("linspace", "logspace"):
        if isinstance(c, float) or c < 1:
            raise ValueError(f"grid expression {label!r}: the number of points of {fname}() must be an integer >= 1, got {c!r}")
        if c > MAX_AXIS_POINTS:
            raise ValueError(f"grid expression {label!r} gives {c} values; at most {MAX_AXIS_POINTS} per axis")
        with np.errstate(over="ignore", invalid="ignore"):
            vals = np.linspace(a, b, c) if fname == "linspace" else np.logspace(a, b, c)
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"grid expression {label!r} gives values that are not finite")
        return [float(v) for v in vals]
    if c == 0:
        raise ValueError(f"grid expression {label!r}: the step of arange() must be nonzero")
    count = math.ceil((b - a) / c)
    if count > MAX_AXIS_POINTS:
        raise ValueError(f"grid expression {label!r} gives {count} values; at most {MAX_AXIS_POINTS} per axis")
    vals = np.arange(a, b, c)
    if all(isinstance(x, int) for x in (a, b, c)):
        return [int(v) for v in vals]
    return [float(v) for v in vals]


def validate_grid(
    spec: Any, grid: Mapping[str, Sequence], params: Mapping[str, Any] | None = None, *, max_points: int = MAX_GRID_POINTS
) -> tuple[dict[str, list], dict[str, Any]]:
    """Check a grid and fixed parameters against a task spec.

    Args:
        spec: a :class:`nephlab.tasks.TaskSpec`.
        grid: ``{name: values}``; each name must be a parameter of the task, each value valid
            for it. String values ``"true"``/``"false"`` become bools for bool parameters.
        params: fixed values of the parameters that are not swept (others take defaults).
        max_points: largest allowed number of grid points, checked (:func:`check_grid_size`)
            before any value is validated.

    Returns:
        ``(grid, fixed)``: the grid with validated plain values (ints become floats for float
        parameters) and every parameter that is not swept, with its validated value or its
        default. Cross-parameter checks of the spec run later, per point.

    Raises:
        ValueError/TypeError: naming the parameter and the value: a grid over a parameter the
            task lacks, a parameter both swept and fixed, an empty axis, a bad value, a grid
            of more than ``max_points`` points.

    Example:
        >>> from nephlab.tasks import Param, TaskSpec
        >>> spec = TaskSpec("demo", "demo", (Param("x", "float", 1.0, "x"), Param("on", "bool", False, "flag")))
        >>> validate_grid(spec, {"x": [1, 2], "on": ["true", "false"]})
        ({'x': [1.0, 2.0], 'on': [True, False]}, {})
        >>> validate_grid(spec, {"y": [1]})
        Traceback (most recent call last):
        ...
        ValueError: grid over parameter 'y' which task 'demo' lacks; parameters: x, on
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"grid must be a non-empty mapping of parameter name -> values, got {grid!r}")
    params = dict(params or {})
    names = [p.name for p in spec.params]
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise TypeError(f"grid[{name!r}] must be a list of values, got {type(values).__name__} {values!r}")
    check_grid_size({k: len(v) for k, v in grid.items()}, max_points)
    out: dict[str, list] = {}
    for name, values in grid.items():
        if name not in names:
            raise ValueError(f"grid over parameter {name!r} which task {spec.name!r} lacks; parameters: {', '.join(names)}")
        if name in params:
            raise ValueError(f"parameter {name!r} is both swept (grid) and fixed (params={params[name]!r}); give it once")
        if len(values) == 0:
            raise ValueError(f"grid[{name!r}] is empty; an axis needs at least one value")
        p = spec.param(name)
        vals = []
        for v in values:
            if isinstance(v, np.generic):
                v = v.item()
            if p.type == "bool" and isinstance(v, str) and v.lower() in ("true", "false"):
                v = v.lower() == "true"
            vals.append(p.check(v, spec.name))
        if len(set(vals)) != len(vals):
            raise ValueError(f"grid[{name!r}] = {list(values)!r} repeats a value; values on one axis must be distinct")
        out[name] = vals
    for key in params:
        if key not in names:
            raise ValueError(f"task {spec.name!r} has no parameter {key!r}; parameters: {', '.join(names)}")
    fixed = {
        p.name: (p.check(params[p.name], spec.name) if p.name in params else p.default)
        for p in spec.params
        if p.name not in out
    }
    return out, fixed
