"""Every control of every component is generated from a task spec: one name, one default, one bound,
one unit and one help text per parameter, in the widget, the CLI and a sweep."""

from __future__ import annotations

import pytest

from nephlab.tasks import get_task, task_names
from nephlab.widgets import app
from nephlab.widgets._controls import param_help, param_label


def _components():
    out = []
    for name, (_, target, _) in app.PAGES.items():
        out.append(pytest.param(target, id=name))
    return out


def _current_values(component, spec):
    if spec.name == getattr(component, "task", None):  # the cluster panel: fixed controls, no params
        return {k: w.value for k, w in component.controls.items()}
    return {n: getattr(component, n) for n in spec.names if n in component.param}


@pytest.mark.parametrize("target", _components())
def test_every_control_matches_its_task_spec(target):
    component = app._load(target)()
    assert component.controls, f"{target} has no spec-generated controls"
    specs = set()
    for name, w in component.controls.items():
        spec, p = component.control_specs[name]
        specs.add(spec.name)
        assert spec.name in task_names(), f"{target}: control {name!r} comes from {spec.name!r}, not a registered task"
        assert get_task(spec.name).spec.param(name) == p, f"{target}: {name!r} differs from the task spec"
        assert w.label == param_label(p), (target, name, w.label)
        if p.type != "bool":
            assert w.description == param_help(p), (target, name, w.description)
        if p.choices is not None:
            assert list(w.options) == list(p.choices), (target, name, w.options)
        if p.type in ("float", "int"):
            assert w.start is None and w.end is None, f"{target}: {name!r} would be clamped by the browser"
        assert p.check(w.value, spec.name) == w.value
        values = _current_values(component, spec)
        assert w.visible == p.applies(values), f"{target}: {name!r} visible={w.visible} for {values}"
        if name in component.param:
            assert getattr(component, name) == w.value, f"{target}: {name!r} widget and component differ"
    # the values a component starts from are valid for its tasks (what a CLI run would accept)
    for s in specs:
        spec = get_task(s).spec
        spec.validate({k: v for k, v in _current_values(component, spec).items() if k in spec.names})


@pytest.mark.parametrize("target", _components())
def test_an_out_of_range_value_is_shown_not_reverted(target):
    component = app._load(target)()
    numeric = [(n, w) for n, w in component.controls.items()
               if component.control_specs[n][1].maximum is not None and w.visible]
    assert numeric, f"{target}: no bounded visible numeric control"
    name, w = numeric[0]
    p = component.control_specs[name][1]
    before = getattr(component, name, None)
    w.value = type(p.default)(p.maximum * 2 + 10)
    assert w.value == type(p.default)(p.maximum * 2 + 10), "the widget keeps what the user typed"
    assert "out of range" in component.error, component.error
    assert component.status.startswith("error"), component.status
    if name in component.param:
        assert getattr(component, name) == before
