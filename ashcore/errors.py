"""The errors ash reports to the user: one line, an optional hint, an exit code."""

from __future__ import annotations


class AshError(Exception):
    """A failure the user can act on. Printed as ``ash: error: <message>`` without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AshError):
    """The command line names something that does not exist or is not allowed."""

    exit_code = 2


class LockBusy(AshError):
    """Another ash process holds the store lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class NeedsRoot(AshError):
    """The command changes the system and was not run as root."""

    exit_code = 77  # EX_NOPERM


class CommandFailed(AshError):
    """A program ash ran exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, detail: str = "") -> None:
        self.argv = argv
        self.returncode = returncode
        what = f"'{argv[0]}' exited with status {returncode}"
        if returncode < 0 or returncode > 128:
            import signal

            signo = -returncode if returncode < 0 else returncode - 128
            try:
                what = f"'{argv[0]}' was killed by {signal.Signals(signo).name}"
            except ValueError:
                pass
        detail = detail.strip().splitlines()[-1] if detail.strip() else ""
        super().__init__(f"{what}{': ' + detail if detail else ''}")
