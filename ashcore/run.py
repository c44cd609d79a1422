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
        proc = subprocess.run(
            args,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            env=None if env is None else dict(env),
            cwd=cwd,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        package = PACKAGE_HINTS.get(Path(args[0]).name)
        hint = f"install it with: apt-get install {package}" if package else None
        raise AshError(f"'{args[0]}' not found", hint=hint) from None
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, proc.stderr or "")
    return proc


def output(argv: Sequence[PathLike], **kwargs) -> str:
    """Run ``argv`` and return what it printed on stdout."""
    return run(argv, capture=True, **kwargs).stdout
