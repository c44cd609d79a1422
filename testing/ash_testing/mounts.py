"""The mounts of this process's namespace, to prove that none leaked; and a chroot of the host's
directories, to run ash as if it were chrooted."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace."""
    prefix = os.fspath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def block_device_of(path: Path) -> tuple[str, int, int, Path]:
    """The block device (name, major, minor) of the filesystem ``path`` is on, and where that is
    mounted on the host, from mountinfo."""
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, source = fields[4], fields[fields.index("-") + 2]
            if (os.fspath(path) + "/").startswith(point.rstrip("/") + "/") and (
                best is None or len(point) > len(best[0])
            ):
                best = (point, source)
    assert best is not None and best[1].startswith("/dev/"), best
    st = os.stat(best[1])
    return best[1], os.major(st.st_rdev), os.minor(st.st_rdev), Path(best[0])


_CHROOTED = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.unshare(0x00020000 | 0x20000000) == 0          # private mount and PID namespaces
assert libc.mount(None, b"/", None, (1 << 14) | (1 << 18), None) == 0
if os.fork():
    os._exit(os.waitstatus_to_exitcode(os.wait()[1]))
# PID 1 of the new namespace: stays at the real root, like init, and chroots a child.
new = sys.argv[1]
if sys.argv[2] == "tmpfs":
    assert libc.mount(b"tmpfs", new.encode(), b"tmpfs", 0, None) == 0
for d in os.listdir("/"):  # every top-level directory, wherever the checkout and venv live
    if os.path.islink("/" + d):
        os.symlink(os.readlink("/" + d), new + "/" + d)
    elif d not in ("proc", "sys") and os.path.isdir("/" + d):
        os.makedirs(new + "/" + d, exist_ok=True)
        assert libc.mount(("/" + d).encode(), (new + "/" + d).encode(), None, 4096 | 16384, None) == 0
os.makedirs(new + "/proc")
assert libc.mount(b"proc", (new + "/proc").encode(), b"proc", 0, None) == 0
child = os.fork()
if child == 0:
    os.chroot(new)
    os.chdir("/")
    os.execv(sys.argv[3], sys.argv[3:])
os._exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""


def chrooted(newroot: Path, argv: list[str], *, root_is_mount_point: bool = True) -> list[str]:
    """``argv`` run chrooted into ``newroot``, where every top-level directory of the host is
    bind-mounted (so ash and its checkout are there wherever they live), from private mount and PID
    namespaces; ``newroot`` a tmpfs mount point of its own, or a plain directory."""
    return [sys.executable, "-c", _CHROOTED, os.fspath(newroot), "tmpfs" if root_is_mount_point else "plain", *argv]
