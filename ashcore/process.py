"""Run programs: argv lists only, never a shell; failures become one-line :class:`AshError`\\ s."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .console import log_command
from .errors import AshError, CommandFailed

PathLike = str | os.PathLike[str]

#: The upstream project of each host tool the core runs, named when the tool is missing (plugins
#: name their own tools: the package-manager and bootloader ones).
TOOLS = {
    "btrfs": "btrfs-progs",
    "mkfs.btrfs": "btrfs-progs",
    "sfdisk": "util-linux",
    "partx": "util-linux",
    "losetup": "util-linux",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "cryptsetup": "cryptsetup",
}


def missing_tool(tool: str) -> AshError:
    """The error for a host program that is not installed."""
    project = TOOLS.get(Path(tool).name)
    return AshError(f"'{tool}' not found", hint=f"install {project} on this machine" if project else None)


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
        raise missing_tool(args[0]) from None
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

    assert proc.stderr is not None  # started with stderr=PIPE

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input is not None:
        assert proc.stdin is not None  # started with stdin=PIPE
        proc.stdin.write(input)
        proc.stdin.close()
    proc.wait()
    reader.join()
    return None, "".join(tail)


def output(argv: Sequence[PathLike], **kwargs) -> str:
    """Run ``argv`` and return what it printed on stdout."""
    return run(argv, capture=True, **kwargs).stdout
