"""Subcommands of the ``nephlab`` command line defined by this package (see ``nephlab.cli``)."""

from __future__ import annotations

from nephlab.cli import Command

COMMANDS: tuple[Command, ...] = ()
