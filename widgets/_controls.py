"""Panel widgets built from a task's parameter spec, so controls match the engine.

:func:`controls_from_spec` turns each :class:`nephlab.tasks.Param` into a widget whose bounds,
choices, default and units come from the spec (units appear in the label, the parameter's doc, bounds and units in
the tooltip); :func:`control_values` reads the widgets back and validates the values with
:meth:`nephlab.tasks.TaskSpec.validate`, so a bad value raises the engine's own error.

Each widget carries the CSS class ``nl-param-<name>`` (a stable hook for browser tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import panel as pn
import param

__all__ = ["control_for_param", "control_values", "controls_from_spec", "link_controls", "param_for", "param_help",
           "param_label"]


def param_label(p: Any) -> str:
    """The label of a parameter's widget: ``"name [units]"`` (just ``"name"`` when dimensionless).

    Example:
        >>> from nephlab.tasks import Param
        >>> param_label(Param("gamma", "float", 0.1, "decay rate", units="1/time"))
        'gamma [1/time]'
    """
    return f"{p.name} [{p.units}]" if getattr(p, "units", "") else p.name


def _finite(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def param_help(p: Any) -> str:
    """The tooltip of a parameter's widget: its doc, what is allowed and its units.

    Example:
        >>> from nephlab.tasks import Param
        >>> param_help(Param("n", "int", 4, "levels", minimum=2, maximum=40))
        'levels; allowed: 2 <= n <= 40'
    """
    text = f"{p.doc}; allowed: {p.describe_bounds()}"
    return text + (f" [{p.units}]" if getattr(p, "units", "") else "")


class _TextTooltip:
    """Mixin: the widget's ``description`` reaches Bokeh as plain text, which BokehJS shows as the
    native tooltip of the help icon. Panel turns a str description into a ``Tooltip`` model with
    an ``HTML`` model inside (Markdown rendered on the server), and the browser builds a tooltip
    view with its own shadow root and stylesheets for each: two models and a view per control."""

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("description")
        out = super()._process_param_change(params)  # type: ignore[misc]
        if isinstance(text, str) and "description" in out:
            out["description"] = text
        return out


class FloatInput(_TextTooltip, pn.widgets.FloatInput):
    """``pn.widgets.FloatInput`` with a plain-text tooltip."""


class IntInput(_TextTooltip, pn.widgets.IntInput):
    """``pn.widgets.IntInput`` with a plain-text tooltip."""


class Select(_TextTooltip, pn.widgets.Select):
    """``pn.widgets.Select`` with a plain-text tooltip."""


class TextInput(_TextTooltip, pn.widgets.TextInput):
    """``pn.widgets.TextInput`` with a plain-text tooltip."""


def control_for_param(p: Any, value: Any = None, **kwargs: Any) -> pn.widgets.Widget:
    """One Panel widget for the parameter ``p`` (a :class:`nephlab.tasks.Param`).

    - ``choices`` -> ``Select`` over the choices;
    - ``float`` -> ``FloatInput``; ``int`` -> ``IntInput`` (step 1);
    - ``str`` -> ``TextInput``; ``bool`` -> ``Checkbox``.

    The tooltip is plain text (the help icon's native tooltip), not a Bokeh ``Tooltip`` model.

    Numeric inputs carry no ``start``/``end``: the browser would clamp an out-of-range entry
    silently. The bounds are in the tooltip (:func:`param_help`), and a value outside them is
    refused by the component and shown as an error next to the control
    (:meth:`nephlab.widgets.Component.spec_controls`).

    Args:
        p: the parameter.
        value: the initial value (default: ``p.default``); checked with ``p.check``.
        **kwargs: extra widget options (``width``, ``css_classes`` added to ``nl-param-<name>``).

    Example:
        >>> from nephlab.tasks import Param
        >>> w = control_for_param(Param("n", "int", 4, "levels", minimum=2, maximum=40))
        >>> type(w).__name__, w.value, w.start, w.end, w.description
        ('IntInput', 4, None, None, 'levels; allowed: 2 <= n <= 40')
    """
    if not hasattr(p, "name") or not hasattr(p, "type"):
        raise TypeError(f"p must be a nephlab.tasks.Param, got {type(p).__name__}")
    v = p.default if value is None else p.check(value)
    css = [f"nl-param-{p.name}"] + list(kwargs.pop("css_classes", []))
    common: dict[str, Any] = dict(label=param_label(p), css_classes=css, description=param_help(p))
    common.update(kwargs)
    if p.choices is not None:
        return Select(options=list(p.choices), value=v, **common)
    if p.type == "float":
        return FloatInput(value=float(v), step=_float_step(v), **common)
    if p.type == "int":
        return IntInput(value=int(v), step=1, **common)
    if p.type == "bool":
        common.pop("description", None)
        return pn.widgets.Checkbox(value=bool(v), **common)
    return TextInput(value=str(v), **common)


def _float_step(v: float) -> float:
    a = abs(float(v))
    if a == 0 or not math.isfinite(a):
        return 0.1
    return 10.0 ** (math.floor(math.log10(a)) - 1)


def controls_from_spec(spec: Any, names: Iterable[str] | None = None, **kwargs: Any) -> dict[str, pn.widgets.Widget]:
    """Widgets for the parameters of a :class:`nephlab.tasks.TaskSpec`, in spec order.

    Args:
        spec: the task spec (``nephlab.tasks.get_task(name).spec``), or a task name.
        names: the parameters to build (default: all), in the order given; unknown names raise
            the spec's ValueError naming the task and its parameters.
        **kwargs: options passed to every widget (e.g. ``width=160``).

    Returns:
        ``{name: widget}``; read the values back with :func:`control_values`.

    Example:
        >>> from nephlab.tasks import Param, TaskSpec
        >>> spec = TaskSpec("demo", "a demo", (Param("x", "float", 0.5, "x", units="energy", minimum=0.0),
        ...                                    Param("mode", "str", "a", "mode", choices=("a", "b"))))
        >>> ctl = controls_from_spec(spec)
        >>> {k: type(w).__name__ for k, w in ctl.items()}
        {'x': 'FloatInput', 'mode': 'Select'}
        >>> ctl["x"].name, ctl["x"].description
        ('x [energy]', 'x; allowed: x >= 0 [energy]')
    """
    if isinstance(spec, str):
        from nephlab.tasks import get_task

        spec = get_task(spec).spec
    if not hasattr(spec, "params") or not hasattr(spec, "validate"):
        raise TypeError(f"spec must be a nephlab.tasks.TaskSpec or a task name, got {type(spec).__name__}")
    if names is None:
        plist = list(spec.params)
    else:
        if isinstance(names, str):
            raise TypeError(f"names must be an iterable of parameter names, not a single str {names!r}")
        plist = [spec.param(n) for n in names]
    return {p.name: control_for_param(p, **kwargs) for p in plist}


def control_values(spec: Any, controls: Mapping[str, pn.widgets.Widget], **overrides: Any) -> dict[str, Any]:
    """The validated parameter dict for ``spec`` from the widgets' values (plus ``overrides``).

    Parameters without a widget take their defaults. Raises the spec's ValueError/TypeError
    (naming task, parameter, value and what is allowed) for a bad value.

    Example:
        >>> from nephlab.tasks import Param, TaskSpec
        >>> spec = TaskSpec("demo", "a demo", (Param("x", "float", 0.5, "x", minimum=0.0),))
        >>> ctl = controls_from_spec(spec); ctl["x"].value = 2
        >>> control_values(spec, ctl)
        {'x': 2.0}
    """
    values = {k: w.value for k, w in controls.items()}
    values.update(overrides)
    return spec.validate(values)


def param_for(p: Any, **overrides: Any) -> param.Parameter:
    """A ``param`` Parameter declaring a component's state for the spec parameter ``p``.

    Bounds (and strictness), choices, default and doc come from the spec, so the component's
    state can never hold a value the engine refuses. ``overrides`` replace the declaration's
    options (e.g. ``objects=[..., "custom"]`` to add a component-only choice).

    Example:
        >>> from nephlab.tasks import Param
        >>> import param as pm
        >>> class C(pm.Parameterized):
        ...     gamma = param_for(Param("gamma", "float", 0.5, "rate", minimum=0.0, exclusive_minimum=True))
        >>> C().gamma, C.param.gamma.bounds, C.param.gamma.inclusive_bounds
        (0.5, (0.0, None), (False, True))
    """
    doc = p.doc + (f" [{p.units}]" if getattr(p, "units", "") else "")
    if p.choices is not None:
        kw: dict[str, Any] = dict(default=p.default, objects=list(p.choices), doc=doc)
        kw.update(overrides)
        return param.Selector(**kw)
    if p.type in ("float", "int"):
        kw = dict(default=p.default, doc=doc, bounds=(p.minimum, p.maximum),
                  inclusive_bounds=(not p.exclusive_minimum, not p.exclusive_maximum))
        kw.update(overrides)
        return param.Number(**kw) if p.type == "float" else param.Integer(**kw)
    if p.type == "bool":
        return param.Boolean(**{"default": p.default, "doc": doc, **overrides})
    return param.String(**{"default": p.default, "doc": doc, **overrides})


def link_controls(obj: param.Parameterized, controls: Mapping[str, pn.widgets.Widget],
                  on_error: Callable[[ValueError], None] | None = None) -> None:
    """Keep each widget's ``value`` and the parameter of ``obj`` with the same name in sync (both ways).

    ``on_error``: called with the ``ValueError`` when ``obj`` refuses a widget's value (the
    parameter keeps its old value); without it the error propagates.

    Example:
        >>> import param as pm
        >>> class C(pm.Parameterized):
        ...     x = pm.Number(1.0)
        >>> c = C(); w = {"x": pn.widgets.FloatInput(value=1.0)}
        >>> link_controls(c, w); w["x"].value = 3.0; c.x
        3.0
        >>> c.x = 4.0; w["x"].value
        4.0
    """
    for name, w in controls.items():
        if name not in obj.param:
            raise ValueError(f"{type(obj).__name__} has no parameter {name!r} to link; parameters: {list(obj.param)}")
        w.value = getattr(obj, name)

        def to_obj(event, name=name):
            if getattr(obj, name) == event.new:
                return
            try:
                setattr(obj, name, event.new)
            except ValueError as exc:
                if on_error is None:
                    raise
                on_error(exc)

        def to_widget(event, w=w):
            if w.value != event.new:
                w.value = event.new

        w.param.watch(to_obj, "value")
        obj.param.watch(to_widget, name)
