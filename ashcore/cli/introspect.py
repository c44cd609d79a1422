"""The commands as their definitions say, for what is made from them (ash(8), shell completion)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import attrs
import typer.main

from . import app

#: The argument names (metavars) that take snapshot numbers.
SNAPSHOT_ARGUMENTS = {"SNAPSHOT", "SNAPSHOT...", "TREE", "PARENT", "OLD", "NEW"}


@attrs.frozen
class Option:
    flags: tuple[str, ...]  # every spelling: --json; -y, --yes
    help: str
    takes_value: bool


@attrs.frozen
class Command:
    name: str
    help: str
    usage: str  # the arguments and options, as --help shows them
    options: tuple[Option, ...]
    snapshots: bool  # whether an argument is a snapshot number


def root() -> tuple[Any, Any]:
    """The program's click group (typer's own copy of click) and its context."""
    from .main import GROUPS

    for group in GROUPS:  # registers the commands, once per process
        importlib.import_module(f"ashcore.cli.{group}")
    group_: Any = typer.main.get_command(app.app)
    return group_, group_.make_context("ash", [], resilient_parsing=True)


def options(command: Any, ctx: Any) -> tuple[Option, ...]:
    found = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.param_type_name == "argument":
            continue
        flags = (*param.opts, *param.secondary_opts)
        found.append(Option(tuple(flags), record[1], not param.is_flag))
    return tuple(found)


def commands() -> Iterator[Command]:
    """Every command ``ash --help`` lists, in its order (built-in and plugin commands)."""
    group, top = root()
    for name in group.list_commands(top):
        command = group.get_command(top, name)
        if command is None or command.hidden:
            continue
        ctx = command.make_context(name, [], parent=top, resilient_parsing=True)
        arguments = [p for p in command.get_params(ctx) if p.param_type_name == "argument"]
        snapshots = any((p.metavar or p.name.upper()) in SNAPSHOT_ARGUMENTS for p in arguments)
        usage = " ".join(command.collect_usage_pieces(ctx))
        yield Command(name, command.help or "", usage, options(command, ctx), snapshots)


def global_options() -> tuple[Option, ...]:
    group, top = root()
    return options(group, top)


def description() -> str:
    group, _ = root()
    return group.help or ""
