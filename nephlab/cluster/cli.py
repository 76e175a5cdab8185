"""Subcommands of the ``nephlab`` command line defined by this package (see ``nephlab.cli``).

``nephlab sweep TASK --grid 'F=linspace(0.1,1,50)' [--grid ...] [key=value ...] --store out.zarr
[--cluster local|ADDRESS|PROFILE] [--resume] [--retries N] [--chunk K] [--params file.json]
[--no-progress] [--max-points N]``

Example:
    >>> from nephlab.cli import main
    >>> main(["sweep", "lindblad", "--grid", "foo=[1,2]", "--store", "/tmp/never.zarr"])  # error on stderr
    2
"""

from __future__ import annotations

import argparse
import sys
import warnings

from nephlab.cli import Command
from nephlab.tasks.cli import load_params, parse_assignments  # one parser of key=value and --params for every CLI

from .grid import MAX_GRID_POINTS

__all__ = ["COMMANDS", "parse_assignments"]


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="task name (see `nephlab tasks`)")
    p.add_argument("assignments", nargs="*", metavar="key=value", help="fixed parameter values")
    p.add_argument("--grid", action="append", default=[], metavar="EXPR", required=True,
                   help="swept parameter: NAME=linspace(a,b,n) | logspace(a,b,n) | arange(a,b,step) | [v1,v2,...]; repeat for more dims")
    p.add_argument("--store", required=True, help="zarr store to write (e.g. out.zarr)")
    p.add_argument("--cluster", default="local",
                   help="'local' (default: a LocalCluster on 127.0.0.1 sized to this machine), a scheduler address tcp://..., or a profile name")
    p.add_argument("--resume", action="store_true", help="continue an existing store: compute only pending and failed points")
    p.add_argument("--retries", type=int, default=0, help="retries per chunk and per failing point (default: %(default)s)")
    p.add_argument("--chunk", type=int, default=None, help="points per Dask task (default: ~4 chunks per worker)")
    p.add_argument("--params", default=None, metavar="FILE.json", help="fixed parameter values as a JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-points", type=int, default=MAX_GRID_POINTS, metavar="N",
                   help="largest allowed number of grid points, the product of the axis lengths (default: %(default)s)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nephlab sweep", description="Sweep a task over a grid on Dask into a resumable zarr store.")
    _sweep_args(p)
    return p


def _sweep(_: argparse.Namespace, rest: list[str]) -> int:
    # passthrough: parsed here with parse_intermixed_args, so key=value may follow --grid options
    try:
        args = _parser().parse_intermixed_args(rest)
    except SystemExit as exc:  # --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        from nephlab.tasks import get_task

        from .grid import parse_grid, validate_grid

        task = get_task(args.task)
        params = load_params(args.params) if args.params else {}
        params.update(parse_assignments(task.spec, args.assignments))
        grid = parse_grid(args.grid, max_points=args.max_points)
        validate_grid(task.spec, grid, params, max_points=args.max_points)  # fail fast, before starting a cluster
    except (OSError, ValueError, TypeError) as err:
        print(f"nephlab sweep: {err}", file=sys.stderr)
        return 2
    from .store import StoreRepairWarning
    from .sweep import sweep

    show = warnings.showwarning

    def one_line(message, category, *rest, **kwargs) -> None:  # a repaired chunk: one line on stderr
        if issubclass(category, StoreRepairWarning):
            print(f"nephlab sweep: {message}", file=sys.stderr)
        else:
            show(message, category, *rest, **kwargs)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", StoreRepairWarning)
            warnings.showwarning = one_line
            ds = sweep(task, grid, params, store=args.store, cluster=args.cluster, resume=args.resume,
                       retries=args.retries, chunk=args.chunk, progress=not args.no_progress, max_points=args.max_points)
    except (OSError, ValueError, TypeError) as err:
        print(f"nephlab sweep: {err}", file=sys.stderr)
        return 2
    status = ds["status"].values
    done, failed = int((status == 1).sum()), int((status == 2).sum())
    print(f"{done} of {status.size} points done, {failed} failed; results in {args.store}")
    print(f"  open with: nephlab.cluster.open_sweep({args.store!r})  (or xarray.open_zarr)")
    if failed:
        print("  failed points keep their error text in the 'error' variable; rerun with --resume to retry them")
        return 1
    return 0


COMMANDS: tuple[Command, ...] = (
    Command(
        "sweep",
        "sweep a task over a grid on Dask into a resumable zarr store",
        _sweep,
        passthrough=True,
    ),
)
