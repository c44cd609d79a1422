"""The ``ash`` program: the command groups it is made of, and how it reports errors and stops.

This module imports only the standard library and :mod:`ashcore.console` at first: :func:`main`
asks :mod:`ashcore.cli.fast` for an answer (``ash tree``, ``ash current``) and imports typer and the
command groups only when there is none (see docs/architecture.md, "Start-up").
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from ..console import say_error
from ..errors import AshError

#: The modules that define the built-in commands, in the order ``ash --help`` lists them.
GROUPS = ("look", "snapshots", "change", "maintenance", "boot", "setup")


def main(*, fast: bool = True) -> None:
    """The ``ash`` program: errors of every command, plugin commands included, become one line.
    ``fast=False`` never takes the fast path (``tests/test_fast_path.py`` compares the two)."""
    stopped_by = _stop_like_ctrl_c(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        if fast:
            from .fast import answer

            text = answer(sys.argv[1:], os.environ)
            if text is not None:
                _print(text)
                return
        from . import app

        app.reset()
        for group in GROUPS:
            importlib.import_module(f"ashcore.cli.{group}")
        app.app()
    except (AshError, OSError) as error:  # an OSError: a file that could not be read or written
        say_error(error)
        sys.exit(error.exit_code if isinstance(error, AshError) else 1)
    except (KeyboardInterrupt, SystemExit) as stop:  # typer turns KeyboardInterrupt into exit 130
        if isinstance(stop, SystemExit) and not (stopped_by and stop.code == 130):
            raise
        sig = stopped_by[-1] if stopped_by else signal.SIGINT
        print(f"ash: stopped by {signal.Signals(sig).name}; nothing half-done was kept", file=sys.stderr)
        sys.exit(128 + sig)


def _print(text: str) -> None:
    """Print the fast path's answer as the full CLI does; a closed pipe ends ash with status 1 and
    no message, as click does."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # the interpreter flushes it at exit
        sys.exit(1)


def _stop_like_ctrl_c(*signals: signal.Signals) -> list[int]:
    """Make these signals unwind ash as Ctrl-C does (working copies dropped, mounts and loop devices
    undone, each crash-safe step left as a crash would leave it); the returned list receives the
    signal that stopped ash."""
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)  # once is enough: let the unwinding finish
        received.append(signum)
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, stop)
    return received


if __name__ == "__main__":
    main()
