"""A chroot of a snapshot's working copy: what plugins get to run commands "inside" a snapshot."""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import attrs

from ..console import log_command
from ..errors import AshError, CommandFailed
from ..process import communicate, run
from . import script

SANDBOX = Path(__file__).with_name("script.py")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@attrs.define
class Bind:
    """A host path bind-mounted into the chroot (created as a directory if ``source`` is one)."""

    source: Path
    target: str
    readonly: bool = True


@attrs.define
class Device:
    """A host block device a command needs (by default it has none: its ``/dev`` holds only ``null``,
    ``zero``, ``tty`` and the like), in the chroot's ``/dev`` under its own name.

    ``readonly`` (the default): a read-only loop device over it stands there, so neither a write nor a
    filesystem's journal replay reaches the device; it lives as long as the command. Otherwise the
    device's own node, writable (a bootloader's disk). ``mount``: where in the chroot the sandbox also
    mounts it read-only (``fstype``, or what blkid finds), for a tool that reads filesystems but
    cannot mount them itself; a path in the chroot's private ``/run`` or ``/tmp``, so that nothing is
    created in the root.
    """

    path: Path
    readonly: bool = True
    mount: str | None = None
    fstype: str | None = None

    def spec(self) -> list:
        real = os.path.realpath(self.path)
        try:
            is_block = stat.S_ISBLK(os.stat(real).st_mode)
        except OSError:
            is_block = False
        if not is_block or not real.startswith("/dev/"):
            raise AshError(f"{self.path} is not a block device under /dev")
        fstype = self.fstype
        if self.mount is not None and fstype is None:
            found = run(
                ["blkid", "--probe", "--match-tag", "TYPE", "--output", "value", real], capture=True, check=False
            )
            fstype = found.stdout.strip() or None
        mount = self.mount if fstype is not None else None  # no filesystem: nothing to mount
        return [real, self.readonly, mount, fstype]


@attrs.define
class Chroot:
    """A writable root (normally a transaction's working copy) and how to run commands in it.

    ``sysroot`` is the system the snapshot belongs to (for shared host directories such as a
    package cache), or None for a root outside any store (a base being bootstrapped).

    ``chroot_enter`` hooks may add :class:`Bind`\\ s and environment variables, and register cleanups
    with :meth:`on_exit`; they all apply to every :meth:`run`. ``devices`` are the block devices its
    commands may use (none, unless the caller names them: see :class:`Device`). ``timeout`` (seconds)
    bounds every :meth:`run` that gives none itself (the health checks' chroot sets it).
    """

    root: Path
    snapshot: int | None
    package_manager: str | None = None
    sysroot: Path | None = None
    binds: list[Bind] = attrs.field(factory=list)
    env: dict[str, str] = attrs.field(factory=dict)
    devices: list[Device] = attrs.field(factory=list)
    lock_fd: int | None = None
    timeout: float | None = None
    _cleanups: list[Callable[[], None]] = attrs.field(factory=list)

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the chroot is done with, before its snapshot is committed."""
        self._cleanups.append(callback)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": DEFAULT_PATH,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "SYSTEMD_IN_CHROOT": "1",
            "ASH_SNAPSHOT": "" if self.snapshot is None else str(self.snapshot),
        }
        if "TERM" in os.environ:
            env["TERM"] = os.environ["TERM"]
        env.update(self.env)
        env.update(extra or {})
        return env

    def run(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        capture: bool = False,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (an argv list, never a shell string) chrooted into :attr:`root`.

        Output streams to the terminal unless ``capture``; ``stdin=None`` passes ash's own stdin
        through. With ``check``, a non-zero exit raises :class:`CommandFailed` carrying the last line
        of stderr, except for an interactive command (stdin passed through from a terminal): its
        stderr must be the terminal itself, or shells such as bash do not become interactive. After
        ``timeout`` seconds the command and all it started are killed, and :class:`AshError` says so.
        """
        argv = [os.fspath(a) for a in command]
        timeout = self.timeout if timeout is None else timeout
        interactive = stdin is None and not capture and os.isatty(0)
        spec = {
            "root": os.fspath(self.root),
            "argv": argv,
            "env": self.environment(env),
            "binds": [[os.fspath(b.source), b.target, b.readonly] for b in self.binds],
            "devices": [d.spec() for d in self.devices],
            "close_fds": [] if self.lock_fd is None else [self.lock_fd],
        }
        log_command(["chroot", os.fspath(self.root), *argv])
        parent = os.getpid()
        keep = () if self.lock_fd is None else (self.lock_fd,)
        for stream in (sys.stdout, sys.stderr):  # or the child, a copy of ash, holds their buffers too
            if stream is not None:
                stream.flush()

        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command
        try:
            with (
                _spec_file(spec) as spec_fd,
                subprocess.Popen(
                    # never executed: the child runs the sandbox (script.run_forked) and ends there,
                    # as this command would (Popen still sets up its descriptors and signals)
                    [sys.executable, "-I", "-S", os.fspath(SANDBOX), str(spec_fd)],
                    stdin=stdin,
                    stdout=subprocess.PIPE if capture else None,
                    stderr=None if interactive else subprocess.PIPE,
                    text=True,
                    errors="replace",
                    preexec_fn=lambda: script.run_forked(parent, spec_fd, keep),
                    pass_fds=(spec_fd, *keep),
                ) as proc,
            ):
                expired = threading.Event()

                def stop() -> None:  # killing the sandbox kills its PID namespace: all the command started
                    expired.set()
                    proc.kill()

                timer = threading.Timer(timeout, stop) if timeout is not None else None
                if timer:
                    timer.start()
                try:
                    if interactive:
                        out, err = None, ""
                        proc.wait()
                    else:
                        out, err = communicate(proc, echo_stderr=not capture)
                except BaseException:  # ash is stopping: the command dies with its namespace
                    proc.kill()
                    raise
                finally:
                    if timer:
                        timer.cancel()
        finally:
            signal.signal(signal.SIGINT, previous)
        if expired.is_set():
            raise AshError(f"'{argv[0]}' did not finish within {timeout:g} s and was stopped")
        if check and proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, err)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@contextlib.contextmanager
def _spec_file(spec: dict) -> Iterator[int]:
    """The sandbox's specification in an anonymous file, for the sandbox to read from its
    descriptor: as one argument it would be bound by the kernel's limit on a single argument
    (128 KiB), far below what the command's own arguments may take together."""
    fd = os.memfd_create("ash-sandbox-spec", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as f:
            marshal.dump(spec, f)  # marshal, not JSON: the sandbox need not import json (and re)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)
