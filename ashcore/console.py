"""What ash tells the user: notes, warnings and errors on stderr (one line each), JSON on stdout.

Every message ash prints about its own work goes through here, so that they all look alike:
``ash: <note>``, ``ash: warning: <text>``, ``ash: error: <text>`` then ``hint: <what to do>``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence

from .errors import AshError


def debug_enabled() -> bool:
    return os.environ.get("ASH_DEBUG", "") not in ("", "0")


def note(message: str) -> None:
    """Say what ash did on the way (a repair, a cleanup)."""
    print(f"ash: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Print one warning line (exception texts spanning several lines are folded into it)."""
    print(f"ash: warning: {' '.join(message.split())}", file=sys.stderr)


def error_message(error: BaseException) -> str:
    """One line saying what went wrong: an :class:`AshError`'s message, an OSError's reason and file,
    else the exception's type and text."""
    if isinstance(error, AshError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return " ".join(f"{type(error).__name__}: {error}".split())


def say_error(error: BaseException, where: str = "") -> str:
    """Print ``error`` as ash reports every error: one line and its hint (and, with ``--debug``, the
    traceback of anything but an :class:`AshError`). Returns the line's message."""
    if debug_enabled() and not isinstance(error, AshError):
        import traceback

        traceback.print_exception(error)
    message = error_message(error)
    print(f"ash: error: {where}{message}", file=sys.stderr)
    if isinstance(error, AshError) and error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)
    return message


def log_command(argv: Sequence[str]) -> None:
    """With ``--debug``, show a command line ash runs (or its equivalent)."""
    if debug_enabled():
        print(f"+ {shlex.join(argv)}", file=sys.stderr, flush=True)


def emit_json(data: object) -> None:
    """Print a ``--json`` answer."""
    print(json.dumps(data))
