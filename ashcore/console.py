"""What ash tells the user: notes, warnings and errors on stderr (one line each), JSON on stdout.

Every message ash prints about its own work goes through here, so that they all look alike:
``ash: <note>``, ``ash: warning: <text>``, ``ash: error: <text>`` then ``hint: <what to do>``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence

from .errors import AshError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")


def unbytes(text: str) -> str:
    """``text`` with the bytes that were not UTF-8 (kept by Python as surrogates) written as
    ``\\xNN``: how ash records what it was given, so that it can always be printed and stored."""
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (escape sequences, newlines) and bytes
    that were not UTF-8 written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", unbytes(text))


def interactive() -> bool:
    """Whether a person can answer a question: standard input is open and is a terminal."""
    return sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()


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
    hint = error.hint if isinstance(error, AshError) else OS_HINTS.get(getattr(error, "errno", None) or 0)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return message


#: What to do about the system errors a user can fix.
OS_HINTS = {
    errno.EROFS: "the filesystem is mounted read-only: remount it read-write, then try again",
    errno.ENOSPC: "the filesystem is full: delete snapshots you do not need ('ash del'), then try again",
    errno.EACCES: "run ash as root",
    errno.EPERM: "run ash as the host's full root",
}


def size_text(n: int) -> str:
    """A size in bytes as people read it: ``12 MiB``, ``1.5 GiB``."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def log_command(argv: Sequence[str]) -> None:
    """With ``--debug``, show a command line ash runs (or its equivalent)."""
    if debug_enabled():
        print(f"+ {shlex.join(argv)}", file=sys.stderr, flush=True)


def json_text(data: object) -> str:
    """``data`` as JSON, however deeply nested (a chain of thousands of snapshots nests as deep, and
    the encoder recurses once per level)."""
    try:
        return json.dumps(data)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit * 20)
        try:
            return json.dumps(data)
        finally:
            sys.setrecursionlimit(limit)


def emit_json(data: object) -> None:
    """Print a ``--json`` answer."""
    print(json_text(data))
