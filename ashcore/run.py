"""Run programs: argv lists only, never a shell; failures become one-line :class:`AshError`\\ s."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import AshError, CommandFailed

PathLike = str | os.PathLike[str]

#: Hints for tools ash needs on the host, shown when one is missing.
PACKAGE_HINTS = {
    "btrfs": "btrfs-progs",
    "mkfs.btrfs": "btrfs-progs",
    "debootstrap": "debootstrap",
    "qemu-system-x86_64": "qemu-system-x86",
    "sfdisk": "fdisk",
    "partx": "util-linux",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "cryptsetup": "cryptsetup-bin",
    "pacman": "pacman-package-manager",
}


def debug_enabled() -> bool:
    return os.environ.get("ASH_DEBUG", "") not in ("", "0")


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
    if debug_enabled():
        print(f"+ {shlex.join(argv)}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[PathLike],
    *,
    check: bool = True,
    capture: bool = False,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: PathLike | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and wait for it.

    Output goes to the terminal unless ``capture`` is set. With ``check`` a non-zero exit raises
    :class:`CommandFailed` whose message carries the last line the program wrote to stderr.
    """
    args = [os.fspath(a) for a in argv]
    log_command(args)
    try:
        with subprocess.Popen(
            args,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            cwd=cwd,
            text=True,
            errors="replace",
        ) as proc:
            out, err = communicate(proc, input=input, echo_stderr=not capture)
    except FileNotFoundError:
        package = PACKAGE_HINTS.get(Path(args[0]).name)
        hint = f"install it with: apt-get install {package}" if package else None
        raise AshError(f"'{args[0]}' not found", hint=hint) from None
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, err)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def communicate(proc: subprocess.Popen, *, input: str | None = None, echo_stderr: bool) -> tuple[str | None, str]:
    """Wait for ``proc``. With ``echo_stderr`` its stderr is shown as it comes and only the tail is
    kept (for the one-line error); otherwise both outputs are captured whole."""
    if not echo_stderr:
        return proc.communicate(input)
    import threading
    from collections import deque

    tail: deque[str] = deque(maxlen=50)

    def pump() -> None:
        for line in proc.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input is not None:
        proc.stdin.write(input)
        proc.stdin.close()
    proc.wait()
    reader.join()
    return None, "".join(tail)


def output(argv: Sequence[PathLike], **kwargs) -> str:
    """Run ``argv`` and return what it printed on stdout."""
    return run(argv, capture=True, **kwargs).stdout
