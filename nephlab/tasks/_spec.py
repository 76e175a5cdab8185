"""Typed, JSON-serialisable parameter specs of tasks: :class:`Param` and :class:`TaskSpec`.

A spec is the one source of truth for a task's parameters: the CLI parses ``key=value`` against
it, sweeps validate grids with it and the widgets build their controls from it. Values are
plain JSON types (float, int, str, bool); :meth:`TaskSpec.validate` checks them and
:meth:`TaskSpec.json_schema` exports a JSON Schema (draft 2020-12).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["Param", "TaskSpec", "PARAM_TYPES"]

PARAM_TYPES: tuple[str, ...] = ("float", "int", "str", "bool")
_JSON_TYPES = {"float": "number", "int": "integer", "str": "string", "bool": "boolean"}


@dataclass(frozen=True)
class Param:
    """One parameter of a task.

    Attributes:
        name: identifier (used as ``key=value`` on the CLI and as a sweep dimension name).
        type: ``"float"``, ``"int"``, ``"str"`` or ``"bool"``.
        default: default value (must itself be valid).
        doc: one-line description.
        units: physical units (``""`` for dimensionless), e.g. ``"1/time"``, ``"energy"``.
        minimum, maximum: bounds of numeric parameters (None: unbounded).
        exclusive_minimum, exclusive_maximum: make the bound strict (e.g. ``gamma > 0``).
        choices: the allowed values (model presets, method names, ...), or None.
        when: where the parameter applies, as ``((other_name, allowed_values), ...)``: e.g.
            ``(("model", ("two_state",)),)`` for a rate that only the two-state model reads.
            None (the default): it always applies. :meth:`TaskSpec.active` lists the parameters
            that apply to given values; widgets show only those, sweeps and the CLI still
            accept the others (they are ignored by the model that does not read them).

    Numeric parameters may be swept over ranges; str/bool parameters over explicit lists.

    Example:
        >>> p = Param("gamma", "float", 0.1, "decay rate", units="1/time", minimum=0.0, exclusive_minimum=True)
        >>> p.check(1, task="demo")
        1.0
        >>> p.describe_bounds()
        'gamma > 0'
    """

    name: str
    type: Literal["float", "int", "str", "bool"]
    default: float | int | str | bool
    doc: str
    units: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple | None = None
    when: tuple[tuple[str, tuple], ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Param name must be a Python identifier, got {self.name!r}")
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Param {self.name!r}: type must be one of {PARAM_TYPES}, got {self.type!r}")
        if self.type in ("str", "bool") and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"Param {self.name!r}: bounds are only allowed for numeric types, not {self.type!r}")
        if self.choices is not None:
            if not isinstance(self.choices, tuple) or not self.choices:
                raise ValueError(f"Param {self.name!r}: choices must be a non-empty tuple, got {self.choices!r}")
            object.__setattr__(self, "choices", tuple(_convert(self, c, "<spec>") for c in self.choices))
        object.__setattr__(self, "default", self.check(self.default, task="<spec>"))
        if self.when is not None:
            if isinstance(self.when, Mapping):
                object.__setattr__(self, "when", tuple((k, tuple(v)) for k, v in self.when.items()))
            ok = isinstance(self.when, tuple) and all(
                isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], tuple) and c[1]
                for c in self.when)
            if not ok or not self.when:
                raise ValueError(f"Param {self.name!r}: when must be a non-empty tuple of (name, (allowed, ...)) "
                                 f"pairs, got {self.when!r}")

    def applies(self, values: Mapping[str, Any]) -> bool:
        """True if this parameter is read for ``values`` (see ``when``).

        Example:
            >>> p = Param("a", "float", 1.0, "rate", when=(("model", ("two_state",)),))
            >>> p.applies({"model": "two_state"}), p.applies({"model": "east"})
            (True, False)
        """
        if self.when is None:
            return True
        return all(values.get(k) in allowed for k, allowed in self.when)

    # -- checks ------------------------------------------------------------------------------

    def check(self, value: Any, task: str = "") -> float | int | str | bool:
        """``value`` converted to this parameter's plain Python type, or a TypeError/ValueError.

        The message names the task, the parameter, the value and what is allowed.
        """
        v = _convert(self, value, task)
        if self.type in ("float", "int"):
            lo, hi = self.minimum, self.maximum
            bad_lo = lo is not None and (v <= lo if self.exclusive_minimum else v < lo)
            bad_hi = hi is not None and (v >= hi if self.exclusive_maximum else v > hi)
            if bad_lo or bad_hi:
                raise ValueError(
                    f"{_where(task, self.name)} = {value!r} is out of range; allowed: {self.describe_bounds()}"
                    + (f" (units: {self.units})" if self.units else "")
                )
        if self.choices is not None and v not in self.choices:
            raise ValueError(
                f"{_where(task, self.name)} = {value!r} is not one of the allowed choices: "
                + ", ".join(repr(c) for c in self.choices)
            )
        return v

    def describe_bounds(self) -> str:
        """Human-readable bounds, e.g. ``'0 < gamma <= 10'``, ``'n >= 2'`` or ``'any float'``."""
        if self.choices is not None:
            return f"{self.name} in {{" + ", ".join(repr(c) for c in self.choices) + "}"
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"{_num(lo)} {'<' if self.exclusive_minimum else '<='} {self.name} {'<' if self.exclusive_maximum else '<='} {_num(hi)}"
        if lo is not None:
            return f"{self.name} {'>' if self.exclusive_minimum else '>='} {_num(lo)}"
        if hi is not None:
            return f"{self.name} {'<' if self.exclusive_maximum else '<='} {_num(hi)}"
        return f"any {self.type}" + (" (finite)" if self.type == "float" else "")

    def parse(self, text: str, task: str = "") -> float | int | str | bool:
        """Parse a command-line string (``"0.5"``, ``"qubit"``, ``"true"``) and :meth:`check` it.

        Example:
            >>> Param("flag", "bool", False, "a switch").parse("true")
            True
        """
        if not isinstance(text, str):
            raise TypeError(f"{_where(task, self.name)}: expected a string to parse, got {type(text).__name__}")
        s = text.strip()
        if self.type == "str":
            return self.check(text, task)
        if self.type == "bool":
            low = s.lower()
            if low in ("true", "1", "yes", "on"):
                return self.check(True, task)
            if low in ("false", "0", "no", "off"):
                return self.check(False, task)
            raise ValueError(f"{_where(task, self.name)} = {text!r} is not a boolean; allowed: true/false (also 1/0, yes/no, on/off)")
        if self.type == "int":
            try:
                return self.check(int(s), task)
            except ValueError as err:
                if "out of range" in str(err) or "choices" in str(err):
                    raise
                try:
                    f = float(s)
                except ValueError:
                    raise ValueError(f"{_where(task, self.name)} = {text!r} is not an integer") from None
                return self.check(f, task)
        try:
            f = float(s)
        except ValueError:
            raise ValueError(f"{_where(task, self.name)} = {text!r} is not a number; allowed: {self.describe_bounds()}") from None
        return self.check(f, task)

    def json_schema(self) -> dict:
        """JSON Schema of this parameter (``type``, ``default``, ``description``, bounds, ``enum``)."""
        s: dict[str, Any] = {"type": _JSON_TYPES[self.type], "default": self.default, "description": self.doc}
        if self.units:
            s["x-units"] = self.units
        if self.minimum is not None:
            s["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            s["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.choices is not None:
            s["enum"] = list(self.choices)
        if self.when is not None:
            s["x-applies-when"] = {k: list(v) for k, v in self.when}
        return s


def _where(task: str, name: str) -> str:
    return f"task {task!r}: parameter {name!r}" if task else f"parameter {name!r}"


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _convert(p: Param, value: Any, task: str) -> float | int | str | bool:
    where = _where(task, p.name)
    if p.type == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise TypeError(f"{where} = {value!r} has type {type(value).__name__}; allowed: a bool (true/false)")
    if p.type == "str":
        if isinstance(value, str):
            return str(value)
        raise TypeError(f"{where} = {value!r} has type {type(value).__name__}; allowed: a string")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"{where} = {value!r} has type {type(value).__name__}; allowed: "
            + ("a number (int or float)" if p.type == "float" else "an integer")
            + (" (bool is not accepted)" if isinstance(value, (bool, np.bool_)) else "")
        )
    try:
        f = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{where} = {value!r} is too large; allowed: {p.describe_bounds()}") from None
    if not math.isfinite(f):
        raise ValueError(f"{where} = {value!r} is not finite; allowed: {p.describe_bounds()}")
    if p.type == "float":
        return f
    if isinstance(value, (float, np.floating)) and not f.is_integer():
        raise TypeError(f"{where} = {value!r} is not an integer; allowed: an integer ({p.describe_bounds()})")
    return int(value)


@dataclass(frozen=True)
class TaskSpec:
    """The parameters of a task: a name, a description and a tuple of :class:`Param`.

    Example:
        >>> spec = TaskSpec("demo", "a demo", (Param("F", "float", 0.5, "drive", units="energy"),
        ...                                     Param("n", "int", 10, "levels", minimum=2)))
        >>> spec.validate({"n": 4})
        {'F': 0.5, 'n': 4}
        >>> spec.json_schema()["additionalProperties"]
        False
    """

    name: str
    doc: str
    params: tuple[Param, ...]
    check: Callable[[dict], None] | None = field(default=None, compare=False, repr=False)
    """Optional cross-parameter check ``check(validated) -> None`` (raises ValueError naming the
    parameters), run at the end of :meth:`validate`."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"TaskSpec name must be a non-empty string of letters, digits, '_' or '-', got {self.name!r}")
        object.__setattr__(self, "params", tuple(self.params))
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"task {self.name!r}: duplicate parameter name(s) {dup}")

    @property
    def names(self) -> list[str]:
        """The parameter names, in declaration order."""
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        """The :class:`Param` called ``name``; ValueError listing the parameters otherwise."""
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"task {self.name!r} has no parameter {name!r}; parameters: {', '.join(self.names)}")

    def defaults(self) -> dict[str, Any]:
        """``{name: default}`` for every parameter."""
        return {p.name: p.default for p in self.params}

    def validate(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check ``values`` and fill in defaults; return a plain-JSON dict in declaration order.

        Ints are accepted for floats (converted), integral floats for ints, NumPy scalars for
        both. Rejected, with a message naming the task, parameter, value and what is allowed:
        unknown names (ValueError), wrong types including bool for a number (TypeError), NaN and
        inf, out-of-range values and values outside ``choices`` (ValueError), and whatever the
        spec's cross-parameter ``check`` rejects.
        """
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise TypeError(f"task {self.name!r}: parameters must be a mapping of name -> value, got {type(values).__name__}")
        for key in values:
            if not isinstance(key, str) or key not in self.names:
                raise ValueError(f"task {self.name!r} has no parameter {key!r}; parameters: {', '.join(self.names)}")
        out = {p.name: (p.check(values[p.name], self.name) if p.name in values else p.default) for p in self.params}
        if self.check is not None:
            self.check(out)
        return out

    def active(self, values: Mapping[str, Any] | None = None) -> list[str]:
        """The names of the parameters that apply to ``values`` (defaults filled in), in spec order.

        A parameter with ``when=None`` always applies; one with ``when`` applies when every
        named parameter has one of the listed values (see :meth:`Param.applies`).

        Example:
            >>> spec = TaskSpec("demo", "a demo", (
            ...     Param("model", "str", "a", "model", choices=("a", "b")),
            ...     Param("x", "float", 1.0, "read by a", when=(("model", ("a",)),))))
            >>> spec.active({"model": "b"})
            ['model']
        """
        full = {**self.defaults(), **dict(values or {})}
        return [p.name for p in self.params if p.applies(full)]

    def json_schema(self) -> dict:
        """JSON Schema (draft 2020-12) of the parameter object; ``additionalProperties: false``."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.name,
            "description": self.doc,
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "additionalProperties": False,
        }
