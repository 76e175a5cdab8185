"""The ``nephlab`` command line.

Each subcommand is one entry of :data:`COMMANDS`: a name, a help line, a function that adds
its options to an ``argparse`` parser, and a handler ``(args, rest) -> int``. Handlers import
what they need lazily, so ``nephlab --version`` starts without loading JAX.

Example:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    nephlab ...
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._version import __version__

Handler = Callable[[argparse.Namespace, list[str]], int]


@dataclass(frozen=True)
class Command:
    """One subcommand: ``nephlab NAME ...``.

    ``passthrough=True`` hands every argument after the subcommand (and its own
    sub-subcommand, if any) to the handler unparsed, for tools that parse their own options.
    """

    name: str
    help: str
    handler: Handler
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
    subcommands: tuple[Command, ...] = field(default_factory=tuple)
    passthrough: bool = False


# --- handlers --------------------------------------------------------------------------------


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="nephlab-demo.png", help="PNG to write (default: %(default)s)")
    p.add_argument("--n", type=int, default=25, help="Fock levels (default: %(default)s)")
    p.add_argument("--F", type=float, default=0.5, help="drive amplitude (default: %(default)s)")


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    from . import demo

    return int(demo.main(args) or 0)


def _bench(name: str):
    """Handler that runs ``nephlab.bench.<name>.main(rest)``, imported only when called."""

    def handler(args: argparse.Namespace, rest: list[str]) -> int:
        import importlib

        return int(importlib.import_module(f"nephlab.bench.{name}").main(rest) or 0)

    return handler


COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "solve a driven damped oscillator and write a PNG",
        _demo,
        add_arguments=_demo_args,
    ),
    Command(
        "bench",
        "run benchmarks against peer codes",
        handler=lambda args, rest: 2,  # never called: a COMMAND is required
        subcommands=(
            Command(
                "lindblad",
                "Lindblad solvers: nephlab vs QuTiP vs dynamiqs (options: see --help)",
                _bench("lindblad"),
                passthrough=True,
            ),
            Command(
                "large",
                "large Hilbert spaces: Kerr lattice D = 81, 729, nephlab dense/sparse vs QuTiP 5 vs dynamiqs (dia)",
                _bench("large"),
                passthrough=True,
            ),
            Command(
                "langevin",
                "batched Langevin integrator: nephlab vs NumPy vs pure Python",
                _bench("langevin"),
                passthrough=True,
            ),
            Command(
                "learn",
                "learned control: nephlab PPO vs Stable-Baselines3 PPO vs a NumPy loop (env steps/s, time to within 1 percent of W*)",
                _bench("learn"),
                passthrough=True,
            ),
            Command(
                "md",
                "molecular dynamics: nephlab-JAX (float32, float64) vs LAMMPS (serial, OMP) particle-steps/s",
                _bench("md"),
                passthrough=True,
            ),
            Command(
                "cloning",
                "cloning (population dynamics) for SCGFs: nephlab vs a NumPy implementation",
                _bench("cloning"),
                passthrough=True,
            ),
            Command(
                "sweep",
                "sweeps on Dask: a 1000-point lindblad sweep vs a naive client.submit loop",
                _bench("sweep"),
                passthrough=True,
            ),
            Command(
                "grape",
                "GRAPE on the qutip-qoc Hadamard problem: nephlab vs qutip-qoc",
                _bench("grape"),
                passthrough=True,
            ),
            Command(
                "pages",
                "page load of `nephlab serve` in Chromium: time to the first Bokeh plot per page",
                _bench("pages"),
                passthrough=True,
            ),
        ),
    ),
)


# Subcommand tables that live next to the code they drive. Each module exposes
# ``COMMANDS: tuple[Command, ...]`` and imports its heavy dependencies inside the handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "nephlab.tasks.cli",  # run, tasks, estimate
    "nephlab.cluster.cli",  # sweep
    "nephlab.cluster.jobs_cli",  # submit, status, cancel, fetch, cluster
    "nephlab.widgets.cli",  # serve
)


def all_commands() -> tuple[Command, ...]:
    """Every subcommand: :data:`COMMANDS` followed by those of :data:`COMMAND_MODULES`."""
    import importlib

    extra: list[Command] = []
    for mod in COMMAND_MODULES:
        extra.extend(importlib.import_module(mod).COMMANDS)
    return COMMANDS + tuple(extra)


# --- parser ----------------------------------------------------------------------------------


def _add(subparsers, cmd: Command) -> None:
    p = subparsers.add_parser(
        cmd.name, help=cmd.help, description=cmd.help, add_help=not cmd.passthrough
    )
    cmd.add_arguments(p)
    p.set_defaults(_command=cmd)
    if cmd.subcommands:
        sub = p.add_subparsers(title="commands", metavar="COMMAND")
        for c in cmd.subcommands:
            _add(sub, c)


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser for the whole command line (one subparser per command)."""
    parser = argparse.ArgumentParser(
        prog="nephlab", description="nephlab: a research environment for nonequilibrium physics."
    )
    parser.add_argument("--version", action="version", version=f"nephlab {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in all_commands():
        _add(sub, cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors exit inside argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    cmd: Command | None = getattr(args, "_command", None)
    if cmd is None:
        parser.print_help()
        return 2
    if cmd.subcommands:
        names = ", ".join(c.name for c in cmd.subcommands)
        print(f"nephlab {cmd.name}: missing COMMAND; choose one of: {names}", file=sys.stderr)
        return 2
    if rest and not cmd.passthrough and hasattr(args, "assignments"):
        # argparse stops filling a nargs="*" positional at the first option, so key=value pairs
        # written after an option arrive in `rest`: hand them back to the command's assignments
        moved = [r for r in rest if "=" in r and not r.startswith("-")]
        args.assignments = [*(args.assignments or []), *moved]
        rest = [r for r in rest if r not in moved]
    if rest and not cmd.passthrough:
        print(f"nephlab {cmd.name}: unrecognized arguments: {' '.join(rest)}", file=sys.stderr)
        return 2
    return cmd.handler(args, rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
