"""ash(8), written from the command definitions themselves, so that it cannot drift from ``--help``.

``ash setup`` and ``ash self-update`` put it into a system as ``/usr/share/man/man8/ash.8``;
``python3 -m ashcore.cli.manpage`` prints it (for packagers).
"""

from __future__ import annotations

import time

from .. import __version__
from . import introspect

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


def _options(options: tuple[introspect.Option, ...]) -> list[str]:
    lines = []
    for option in options:
        lines += [".TP", f".B {_roff(', '.join(option.flags))}", _roff(option.help)]
    return lines


def render() -> str:
    """The page: name, synopsis, every command with its usage, help and options, files, exit status."""
    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = [
        f'.TH ASH 8 "{date}" "ash {__version__}" "System Administration"',
        ".SH NAME",
        "ash \\- run Linux as an immutable tree of btrfs snapshots",
        ".SH SYNOPSIS",
        ".B ash",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        _roff(introspect.description()),
        ".SH OPTIONS",
        *_options(introspect.global_options()),
        ".SH COMMANDS",
    ]
    for command in introspect.commands():
        out += [".SS " + _roff(command.name), f".B ash {_roff(command.name)}", _roff(command.usage), ".PP"]
        out.append(_roff(command.help))
        if command.options:
            out += [".PP", "Options:", ".RS", *_options(command.options), ".RE"]
    return "\n".join(out) + "\n" + FILES


if __name__ == "__main__":
    print(render(), end="")
