"""ash(8), written from the command definitions themselves, so that it cannot drift from ``--help``.

``ash setup`` and ``ash self-update`` put it into a system as ``/usr/share/man/man8/ash.8``;
``python3 -m ashcore.cli.manpage`` prints it (for packagers).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import typer.main

from .. import __version__
from . import app

PATH = "usr/share/man/man8/ash.8"
FILES = """.SH FILES
.TP
.I /.snapshots/rootfs/snapshot-N
the snapshots (read-only btrfs subvolumes)
.TP
.I /.snapshots/ash/tree.json
the tree: parents, descriptions, mutability (the version before the last change beside it, as tree.json.prev)
.TP
.I /.snapshots/deploy
the deployments: what boots
.TP
.I /etc/ash/update.conf
the automatic update's settings
.TP
.I /etc/ash/health.d/required.d, /etc/ash/health.d/wanted.d
your checks of a snapshot before an automatic update deploys it
.SH EXIT STATUS
0 success; 1 the operation failed (the snapshot it was changing is unchanged); 2 a bad command line or a
refused operation; 75 another ash holds the store lock; 77 the command needs root; 130, 143, 129 stopped by
Ctrl-C, SIGTERM or SIGHUP; \\fBrun\\fR and \\fBchroot\\fR pass on the command's own status.
"""


def _roff(text: str) -> str:
    """Text as roff reads it literally: backslashes doubled, a leading dot or quote escaped."""
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.splitlines())


def _usage(name: str, command: Any, ctx: Any) -> str:
    pieces = " ".join(_roff(p) for p in command.collect_usage_pieces(ctx))  # as --help shows them
    return f".B ash {_roff(name)}\n{pieces}"


def _options(command: Any, ctx: Any) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.param_type_name == "argument":
            continue
        flags, help_text = record
        lines += [".TP", f".B {_roff(flags)}", _roff(help_text)]
    return lines


def render() -> str:
    """The page: name, synopsis, every built-in command with its usage, help and options, files."""
    from .main import GROUPS

    for group in GROUPS:  # registers the commands, once per process
        importlib.import_module(f"ashcore.cli.{group}")
    root: Any = typer.main.get_command(app.app)  # a click group (typer's own copy of click)
    top = root.make_context("ash", [], resilient_parsing=True)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = [
        f'.TH ASH 8 "{date}" "ash {__version__}" "System Administration"',
        ".SH NAME",
        "ash \\- run Linux as an immutable tree of btrfs snapshots",
        ".SH SYNOPSIS",
        ".B ash",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        _roff(root.help or ""),
        ".SH OPTIONS",
        *_options(root, top),
        ".SH COMMANDS",
    ]
    for name in root.list_commands(top):
        command = root.get_command(top, name)
        if command is None or command.hidden:
            continue
        ctx = command.make_context(name, [], parent=top, resilient_parsing=True)
        out += [".SS " + _roff(name), _usage(name, command, ctx), ".PP", _roff(command.help or "")]
        options = _options(command, ctx)
        if options:
            out += [".PP", "Options:", ".RS", *options, ".RE"]
    return "\n".join(out) + "\n" + FILES


if __name__ == "__main__":
    print(render(), end="")
