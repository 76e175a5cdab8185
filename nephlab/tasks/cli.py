"""Subcommands of the ``nephlab`` command line defined by this package (see ``nephlab.cli``).

``nephlab run TASK [--params file.json] [key=value ...] [--out result.nc|.zarr] [--overwrite]``
    run one point; print a summary and where the result was written.
``nephlab tasks [NAME] [--schema]``
    list the tasks and their parameters (defaults, units, bounds); ``--schema`` prints the JSON
    Schema (of NAME, or of every task).
``nephlab estimate TASK [--params file.json] [key=value ...] [--json]``
    memory and time estimate, recommended executor (in-process / local / cluster) and device.

``key=value`` is parsed against the task's spec (``F=0.5``, ``model=qubit``, ``flag=true``); a
``--params`` file is read with ``json`` only (an object of name -> value) and ``key=value``
wins over it. Heavy imports happen inside the handlers.

Example:
    >>> from nephlab.cli import main
    >>> main(["estimate", "lindblad", "n=4"])  # doctest: +ELLIPSIS
    task: lindblad
    ...
    0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nephlab import _io
from nephlab.cli import Command

__all__ = ["COMMANDS", "parse_assignments", "load_params", "write_dataset", "summary"]


# --- helpers ---------------------------------------------------------------------------------


def parse_assignments(spec, items: list[str]) -> dict:
    """``["F=0.5", "model=qubit"]`` -> ``{"F": 0.5, "model": "qubit"}``, typed by ``spec``.

    Raises ValueError for an item without ``=``, an unknown or repeated name, or a value the
    parameter rejects (the message names it).

    Example:
        >>> from nephlab.tasks import get_task
        >>> parse_assignments(get_task("lindblad").spec, ["F=0.5", "model=qubit"])
        {'F': 0.5, 'model': 'qubit'}
    """
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"argument {item!r} is not of the form key=value (parameters of task {spec.name!r}: "
                             f"{', '.join(spec.names)})")
        if key in out:
            raise ValueError(f"parameter {key!r} is given twice ({item!r})")
        out[key] = spec.param(key).parse(text, spec.name)
    return out


def load_params(path: str | os.PathLike) -> dict:
    """Parameters from a JSON file (an object ``{name: value}``); read with ``json`` only.

    Example:
        >>> import json, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "p.json"); _ = open(f, "w").write('{"F": 0.3}')
        >>> load_params(f)
        {'F': 0.3}
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"--params {str(path)!r} is not valid JSON: {err}") from None
    except OSError as err:
        raise ValueError(f"--params {str(path)!r} cannot be read: {err.strerror or err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--params {str(path)!r} must hold a JSON object of name -> value, got {type(data).__name__}")
    return data


def write_dataset(ds, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``out`` (``.nc`` or ``.zarr``); see :func:`nephlab._io.write_dataset`.

    An existing ``out`` is refused unless ``overwrite``; the write is atomic.

    Example:
        >>> import os, tempfile, xarray as xr
        >>> p = write_dataset(xr.Dataset({"a": ("x", [1.0, 2.0])}), os.path.join(tempfile.mkdtemp(), "r.nc"))
        >>> p.suffix
        '.nc'
    """
    return _io.write_dataset(ds, out, overwrite=overwrite, argname="--out")


def summary(ds) -> str:
    """A short text summary of a task result (task, dims, scalars, arrays, wall time).

    Example:
        >>> from nephlab.tasks import run_task
        >>> print(summary(run_task("optimal_protocol", n_times=3)).splitlines()[0])  # doctest: +ELLIPSIS
        task optimal_protocol on ..., ... s
    """
    import numpy as np

    a = ds.attrs
    head = f"task {a.get('task')} on {a.get('device')}, {a.get('wall_time_s', float('nan')):.3g} s"
    lines = [head, f"  params: {a.get('params')}"]
    if ds.sizes:
        lines.append("  dims: " + ", ".join(f"{k}={v}" for k, v in ds.sizes.items()))
    for name, v in ds.data_vars.items():
        units = v.attrs.get("units", "")
        u = f" [{units}]" if units else ""
        if v.ndim == 0:
            lines.append(f"  {name} = {float(v):.10g}{u}")
        else:
            arr = np.asarray(v)
            lines.append(f"  {name}({', '.join(map(str, v.dims))}){u}: min {arr.min():.6g}, max {arr.max():.6g}"
                         + (f", last {arr.reshape(-1)[-1]:.6g}" if v.ndim == 1 else ""))
    return "\n".join(lines)


def _params(spec, args) -> dict:
    values = load_params(args.params) if args.params else {}
    values.update(parse_assignments(spec, args.assignments))
    return spec.validate(values)


def _parsed(name: str, add_arguments, rest: list[str]) -> argparse.Namespace | int:
    """Parse ``rest`` with options and ``key=value`` items in any order (argparse's intermixed
    parsing); an int is the exit code of ``--help`` or a usage error."""
    parser = argparse.ArgumentParser(prog=f"nephlab {name}", description=_HELP[name])
    add_arguments(parser)
    try:
        return parser.parse_intermixed_args(rest)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


def _fail(cmd: str, err: BaseException) -> int:
    print(f"nephlab {cmd}: error: {err}", file=sys.stderr)
    return 2


# --- run -------------------------------------------------------------------------------------


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="task name (see `nephlab tasks`)")
    p.add_argument("assignments", nargs="*", metavar="key=value", help="parameter values, e.g. F=0.5 model=qubit")
    p.add_argument("--params", metavar="FILE.json", help="JSON object of parameter values (key=value wins)")
    p.add_argument("--out", metavar="PATH", help="write the result to PATH (.nc: netCDF via h5netcdf; .zarr)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    args = _parsed("run", _run_args, rest)
    if isinstance(args, int):
        return args
    try:
        from . import get_task, run_task

        task = get_task(args.task)
        params = _params(task.spec, args)
        if args.out:  # check the destination before computing
            _io.check_target(args.out, overwrite=args.overwrite, argname="--out")
        ds = run_task(task, params)
        print(summary(ds))
        if args.out:
            path = write_dataset(ds, args.out, overwrite=args.overwrite)
            print(f"wrote {path.resolve()}")
        else:
            print("result not written (give --out result.nc or --out result.zarr to keep it)")
    except (ValueError, TypeError) as err:
        return _fail("run", err)
    return 0


# --- tasks -----------------------------------------------------------------------------------


def _tasks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="show one task in detail")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema of the parameters")


def _describe(task) -> str:
    spec = task.spec
    lines = [f"{spec.name}: {spec.doc}"]
    w = max(len(p.name) for p in spec.params)
    for p in spec.params:
        units = f" [{p.units}]" if p.units else ""
        lines.append(f"  {p.name:<{w}}  {p.type:<5} default {p.default!r}{units}; {p.describe_bounds()}")
        lines.append(f"  {'':<{w}}  {p.doc}")
    extras = []
    if task.batch_fn is not None:
        extras.append("vectorised batches")
    if task.estimate is not None:
        extras.append("estimate")
    if extras:
        lines.append("  supports: " + ", ".join(extras))
    return "\n".join(lines)


def _tasks(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        from . import get_task, task_names

        names = [get_task(args.name).name] if args.name else task_names()
        if args.schema:
            schemas = {n: get_task(n).spec.json_schema() for n in names}
            print(json.dumps(schemas[names[0]] if args.name else schemas, indent=2, ensure_ascii=False))
        elif args.name:
            print(_describe(get_task(args.name)))
        else:
            for n in names:
                spec = get_task(n).spec
                print(f"{n:<18} {spec.doc}")
                print(f"{'':<18} parameters: " + ", ".join(
                    f"{p.name}={p.default!r}" + (f" [{p.units}]" if p.units else "") for p in spec.params))
            print("\n`nephlab tasks NAME` shows bounds and docs; `--schema` prints the JSON Schema.")
    except (ValueError, TypeError) as err:
        return _fail("tasks", err)
    return 0


# --- estimate --------------------------------------------------------------------------------


def _estimate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="task name (see `nephlab tasks`)")
    p.add_argument("assignments", nargs="*", metavar="key=value", help="parameter values")
    p.add_argument("--params", metavar="FILE.json", help="JSON object of parameter values (key=value wins)")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"  # pragma: no cover


def _estimate(args: argparse.Namespace, rest: list[str]) -> int:
    args = _parsed("estimate", _estimate_args, rest)
    if isinstance(args, int):
        return args
    try:
        from . import estimate, get_task

        task = get_task(args.task)
        est = estimate(task, _params(task.spec, args))
        if args.json:
            print(json.dumps({"task": task.name, **est}, indent=2))
        else:
            print(f"task: {task.name}")
            print(f"  memory:   {_bytes(est['memory_bytes'])} (peak, one point)")
            print(f"  time:     {est['seconds']:.3g} s (rough, compilation excluded)")
            print(f"  executor: {est['executor']} (in-process / local / cluster)")
            print(f"  device:   {est['device']}")
    except (ValueError, TypeError) as err:
        return _fail("estimate", err)
    return 0


_HELP = {
    "run": "run one task point; print a summary and write .nc/.zarr",
    "tasks": "list tasks and their parameters (--schema: JSON Schema)",
    "estimate": "memory/time estimate, recommended executor and device",
}

# ``run`` and ``estimate`` parse their own arguments (passthrough) so that key=value items may
# come before or after the options: ``nephlab run lindblad --params p.json F=0.3 --out r.nc``.
COMMANDS: tuple[Command, ...] = (
    Command("run", _HELP["run"] + " (nephlab run --help)", _run, passthrough=True),
    Command("tasks", _HELP["tasks"], _tasks, add_arguments=_tasks_args),
    Command("estimate", _HELP["estimate"] + " (nephlab estimate --help)", _estimate, passthrough=True),
)
