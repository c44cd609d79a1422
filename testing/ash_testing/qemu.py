"""Booting disk images in QEMU to prove they work: for the boot tests and ``scripts/demo``.

:func:`boot` starts ``qemu-system-x86_64`` with TCG (KVM does not work on every host, and TCG works
everywhere), the serial console on a pipe, ``-no-reboot`` and writes to the image discarded
(``snapshot=on``), so the image is never changed. Every console line is logged with the seconds
since QEMU started. ``keys`` types on the serial console when given text appears there (to choose a
GRUB menu entry as a user would). The guest ends the run by powering off; a timeout stops QEMU with SIGTERM, then
SIGKILL, and QEMU also dies with this process.

The guest side is :func:`report_overlay`: a systemd unit that, when the kernel command line has
``ash.report=1``, prints ``ASH-REPORT <key>: <value>`` lines on ``ttyS0`` and powers off. When the
booted ``/etc/ash-report-deploy`` names a snapshot, it first runs ``ash etc-update`` and
``ash deploy`` of that snapshot on the booted system and reports what they did. It runs
before the serial getty, which would otherwise hang up the port under it, and lets systemd open the
port rather than the script.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
BEGIN, END = "ASH-REPORT-BEGIN", "ASH-REPORT-END"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b[c()][0-9A-Za-z]?")
_REPORT = re.compile(r"ASH-REPORT (\S+): ?(.*)")


@attrs.define
class Boot:
    """What one boot printed: ``(seconds since QEMU started, line)`` pairs, and how it ended."""

    lines: list[tuple[float, str]] = attrs.field(factory=list)
    returncode: int | None = None
    timed_out: bool = False

    def first(self, text: str, after: float | None = 0.0) -> float | None:
        """When a line containing ``text`` first appeared (``after`` a given time)."""
        if after is None:
            return None
        return next((t for t, line in self.lines if text in line and t >= after), None)

    @property
    def report(self) -> dict[str, str]:
        """The guest's ``ASH-REPORT key: value`` lines (complete only if :attr:`reported`)."""
        return {m.group(1): m.group(2).strip() for _, line in self.lines if (m := _REPORT.search(line))}

    @property
    def reported(self) -> bool:
        return self.first(END) is not None

    def tail(self, count: int = 60) -> str:
        return "\n".join(f"[{t:7.2f}] {line}" for t, line in self.lines[-count:])


def boot(
    image: Path,
    *,
    firmware: str,
    log: Path | None = None,
    timeout: float = 600,
    memory: str = "1024",
    keys: Sequence[tuple[str, bytes]] = (),
) -> Boot:
    """Boot ``image`` (raw) until the guest powers off or ``timeout`` seconds pass. ``keys`` are
    ``(text, typed)`` pairs: once ``text`` appears on the console (after the previous pair's), the
    bytes ``typed`` are written to the serial port's input."""
    with tempfile.TemporaryDirectory(prefix="ash-qemu-") as tmp:
        argv = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            memory,
            "-smp",
            "2",
            "-display",
            "none",
            "-vga",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
            "-nic",
            "none",
            "-drive",
            f"file={_option(image)},format=raw,if=virtio,cache=unsafe,snapshot=on",
        ]
        if firmware == "uefi":
            variables = Path(tmp, "OVMF_VARS.fd")
            shutil.copy(OVMF_VARS, variables)
            argv += [
                "-drive",
                f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive",
                f"if=pflash,format=raw,unit=1,file={_option(variables)}",
            ]
        return _run(argv, log, timeout, keys)


def _option(path: Path) -> str:
    """A path as a value in QEMU's comma-separated options (a comma is written twice)."""
    return str(path).replace(",", ",,")


def _run(argv: list[str], log: Path | None, timeout: float, keys: Sequence[tuple[str, bytes]] = ()) -> Boot:
    result, pending = Boot(), b""
    todo, seen = list(keys), b""  # seen: the console's output since the last keys were typed
    start = time.monotonic()
    out = open(log, "w") if log else None  # closed in finally
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if todo else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    console = proc.stdout
    assert console is not None  # stdout=PIPE

    def emit(raw: bytes) -> None:
        line = _ANSI.sub("", raw.decode("utf-8", "replace")).replace("\r", "")
        stamp = time.monotonic() - start
        result.lines.append((stamp, line))
        if out:
            out.write(f"[{stamp:8.3f}] {line}\n")
            out.flush()

    try:
        if out:
            out.write(f"# {' '.join(argv)}\n")
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                result.timed_out = True
                break
            ready, _, _ = select.select([console], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(console.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            if todo:  # matched across line breaks and escape sequences: a menu is drawn, not printed
                seen = (seen + chunk)[-65536:]
                while todo and todo[0][0] in (text := _ANSI.sub("", seen.decode("utf-8", "replace"))):
                    wanted, typed = todo.pop(0)
                    seen = text[text.index(wanted) + len(wanted) :].encode()
                    assert proc.stdin is not None  # stdin=PIPE while keys are left
                    proc.stdin.write(typed)
                    proc.stdin.flush()
                    if out:
                        out.write(f"# typed {typed!r} after {wanted!r}\n")
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                emit(raw)
        if pending:
            emit(pending)
    finally:
        _stop(proc)
        result.returncode = proc.returncode
        if out:
            out.write(f"# exit {proc.returncode}{' (timed out)' if result.timed_out else ''}\n")
            out.close()
    return result


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    for stream in (proc.stdout, proc.stdin):
        if stream is not None:
            stream.close()


# -- the guest side ----------------------------------------------------------------------------

REPORT_SCRIPT = """#!/bin/sh
# Prints what the booted system is, on the serial console, then powers off (ash-report.service).
say() { echo "ASH-REPORT $1: $2"; }
echo "ASH-REPORT-BEGIN"
say current "$(ash current 2>&1 | tail -n 1)"
say marker "$(cat /usr/lib/ash/snapshot 2>&1)"
say cmdline "$(cat /proc/cmdline)"
say root "$(findmnt -no SOURCE,OPTIONS /)"
if touch /.ash-report 2>/dev/null; then rm -f /.ash-report; say root-writable yes; else say root-writable no; fi
if touch /etc/.ash-report 2>/dev/null; then rm -f /etc/.ash-report; say etc-writable yes; else say etc-writable no; fi
say dpkg-db "$(findmnt -no SOURCE,OPTIONS /var/lib/dpkg 2>&1)"
for p in @PACKAGES@; do
  say "package-$p" "$(dpkg-query -W -f '${Status} ${Version}' "$p" 2>/dev/null || echo absent)"
done
[ -d /sys/firmware/efi ] && say firmware uefi || say firmware bios
say uptime "$(cut -d' ' -f1 /proc/uptime)"
say update-timer "$(systemctl is-enabled ash-auto-upgrade.timer 2>&1)"
say update-status "$(ash status 2>&1 | tr '\n' ' ')"
if [ -s /etc/ash-report-deploy ]; then  # asked for: ash at work on the booted system itself
  say guest-etc-update "$(ash etc-update 2>&1 | tail -n 1)"
  say guest-etc-saved "$(ls "/.snapshots/rootfs/snapshot-$(cat /usr/lib/ash/snapshot)/etc/ash-report-deploy" 2>&1)"
  say guest-deploy "$(ash deploy "$(cat /etc/ash-report-deploy)" 2>&1 | tail -n 1)"
  say guest-state "$(ash current --json 2>&1 | tr -d ' \n')"
  say guest-menu "$(grep -m 1 'rootflags=' /.snapshots/boot/grub/grub.cfg)"
fi
echo "ASH-REPORT-END"
systemctl poweroff --no-block
"""

REPORT_UNIT = """[Unit]
Description=Report the booted ash snapshot on the serial console, then power off
After=local-fs.target
Before=serial-getty@ttyS0.service getty.target
ConditionKernelCommandLine=ash.report=1

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ash-report
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
"""

GRUB_DEFAULTS = """# Boot straight into the default entry with the console on the serial port (ash boot tests).
GRUB_TIMEOUT=0
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200 panic=10 ash.report=1"
GRUB_CMDLINE_LINUX_DEFAULT=""
"""


def report_overlay(directory: Path, packages: tuple[str, ...] = (), script: str = REPORT_SCRIPT) -> Path:
    """Write into ``directory`` the files that make a Debian system report on its console and power
    off (for ``ash setup --overlay``); the report says whether each of ``packages`` is installed.
    Another ``script`` makes another report (it prints :data:`BEGIN`, its lines, :data:`END`)."""
    files = {
        "usr/local/sbin/ash-report": script.replace("@PACKAGES@", " ".join(packages)),
        "etc/systemd/system/ash-report.service": REPORT_UNIT,
        "etc/default/grub": GRUB_DEFAULTS,
    }
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(text)
    (directory / "usr/local/sbin/ash-report").chmod(0o755)
    wants = directory / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "ash-report.service").symlink_to("/etc/systemd/system/ash-report.service")
    return directory
