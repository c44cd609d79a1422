"""Escapes from a snapshot's sandbox, each tried for real by root inside ``ash run``, each refused.

A package's maintainer script runs there as root. Whatever it tries, the host, the store and every
other snapshot stay as they were. The test root is the busybox root with more applets and
``/bin/probe`` (``sandbox_probe.c``, built statically here) for what busybox cannot do.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from ashcore.fs import btrfs
from ashcore.testing import Ash, digest, require

pytestmark = pytest.mark.root

PROBE_SOURCE = Path(__file__).with_name("sandbox_probe.c")
APPLETS = ("mount", "umount", "mknod", "dd", "grep", "find", "head", "stat", "readlink", "insmod", "wc", "tty", "tr")
BTRFS_MAGIC = "_BHRfS_M"  # at 64 KiB + 64 on every btrfs device
#: Each escape marked so works with the sandbox as it is (the host's /dev, every capability).
WORKS_TODAY = pytest.mark.xfail(strict=True, reason="the escape works: the sandbox has the host's /dev and all capabilities")


@pytest.fixture(scope="session")
def escape_root(busybox_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc")
    require(cc is not None, "needs a C compiler (cc) with static libc to build the probe")
    root = tmp_path_factory.mktemp("escape") / "root"
    subprocess.run(["cp", "-a", busybox_root, root], check=True)
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    subprocess.run([cc, "-static", "-O1", "-o", root / "bin/probe", PROBE_SOURCE], check=True)
    return root


@pytest.fixture
def box(ash: Ash, escape_root: Path) -> Ash:
    """A store whose snapshot 1 (a clone of the base) is where the hostile commands run."""
    ash("init", "--from", escape_root)
    ash("clone", "0")
    return ash


def inside(box: Ash, script: str, sid: int = 1) -> str:
    """Run ``script`` as root in snapshot ``sid`` (``ash run``); its stdout and stderr."""
    out = box("run", str(sid), "sh", "-c", script, check=False)
    return out.stdout + out.stderr


def block_device_of(path: Path) -> tuple[str, int, int, Path]:
    """The block device (name, major, minor) of the filesystem ``path`` is on, and where that is
    mounted on the host, from mountinfo."""
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, source = fields[4], fields[fields.index("-") + 2]
            if (os.fspath(path) + "/").startswith(point.rstrip("/") + "/") and (best is None or len(point) > len(best[0])):
                best = (point, source)
    assert best is not None and best[1].startswith("/dev/"), best
    st = os.stat(best[1])
    return best[1], os.major(st.st_rdev), os.minor(st.st_rdev), Path(best[0])


def file_handle(path: Path) -> tuple[int, str]:
    """``name_to_handle_at(path)``: the handle's type and bytes (hex), as open_by_handle_at takes them."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(8 + 128)
    struct.pack_into("I", buf, 0, 128)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, os.fsencode(path), buf, ctypes.byref(mount_id), 0) != 0:
        raise OSError(ctypes.get_errno(), "name_to_handle_at")
    size, kind = struct.unpack_from("Ii", buf)
    return kind, buf.raw[8 : 8 + size].hex()


def quiet_check(box: Ash) -> None:
    assert "nothing to repair" in box("check").stdout


# -- the store's disk ---------------------------------------------------------------------------


@WORKS_TODAY
def test_the_stores_block_device_cannot_be_mounted(box):
    """The issue's escape: mount the store's disk, lift a snapshot's read-only flag, change it, set the
    flag again. ``ash check`` could not tell."""
    device, _, _, top = block_device_of(box.sysroot)  # the session's filesystem, mounted at its top
    rel = box.snapshot(0).relative_to(top)
    before = digest(box.snapshot(0))
    out = inside(box, f"mkdir -p /mnt && mount -t btrfs {device} /mnt && probe readonly /mnt/{rel} off && "
                      f"echo edited > /mnt/{rel}/edited && probe readonly /mnt/{rel} on")  # fmt: skip
    assert not (box.snapshot(0) / "edited").exists(), out
    assert digest(box.snapshot(0)) == before
    assert btrfs.is_readonly(box.snapshot(0))
    quiet_check(box)
    assert "No such file or directory" in out or "Operation not permitted" in out, out


@WORKS_TODAY
def test_nothing_can_be_mounted(box):
    out = inside(box, "mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; mount --bind /bin /mnt && echo bound")
    assert "mounted" not in out and "bound" not in out, out
    assert out.count("Operation not permitted") == 2, out


@WORKS_TODAY
def test_no_block_device_node_can_be_made(box):
    _, major, minor, _ = block_device_of(box.sysroot)
    out = inside(box, f"mknod /disk b {major} {minor} && dd if=/disk bs=64 skip=1025 count=1 | grep -c {BTRFS_MAGIC}")
    assert "Operation not permitted" in out and "records" not in out, out


@WORKS_TODAY
def test_a_device_node_in_the_snapshot_is_not_usable(box):
    """A node already in a snapshot (left by a tool on the host, or a package) opens nothing."""
    _, major, minor, _ = block_device_of(box.sysroot)
    box("mutable", "1")
    os.mknod(box.snapshot(1) / "disk", stat.S_IFBLK | 0o600, os.makedev(major, minor))
    out = inside(box, f"dd if=/disk bs=64 skip=1025 count=1 | grep -c {BTRFS_MAGIC}")
    assert out.split()[-1] == "0" and "Permission denied" in out, out


@WORKS_TODAY
def test_a_loop_device_of_the_host_cannot_be_written(box, tmp_path):
    """The issue's other escape: a postinst wrote a host file through a loop device attached to it."""
    host_file = tmp_path / "host.img"
    host_file.write_bytes(bytes(1 << 20))
    loop = subprocess.run(["losetup", "--find", "--show", host_file], check=True, capture_output=True, text=True).stdout.strip()
    try:
        out = inside(box, f"echo pwned | dd of={loop} conv=notrunc && echo written")
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    assert host_file.read_bytes() == bytes(1 << 20), out
    assert "written" not in out, out


# -- the kernel ---------------------------------------------------------------------------------


@WORKS_TODAY
def test_sys_and_proc_sys_cannot_be_remounted_or_written(box):
    out = inside(box, "mount -o remount,rw /sys && echo sys-rw; mount -o remount,rw /proc/sys && echo proc-sys-rw; "
                      "umount /proc/sys && echo proc-sys-gone; echo x > /proc/sys/kernel/hostname && echo hostname; "
                      "echo h > /proc/sysrq-trigger && echo sysrq; grep -E ' /(sys|proc/sys) ' /proc/self/mounts")  # fmt: skip
    if Path("/proc/sysrq-trigger").exists():  # echo b would reboot the host
        assert "Permission denied" in out or "Read-only file system" in out, out
    for escaped in ("sys-rw", "proc-sys-rw", "proc-sys-gone", "hostname", "sysrq"):
        assert f"\n{escaped}\n" not in f"\n{out}", out
    mounts = [line.split() for line in out.splitlines() if line.startswith(("sysfs ", "proc "))]
    assert {m[1] for m in mounts} == {"/sys", "/proc/sys"}, out
    assert all(m[3].split(",")[0] == "ro" for m in mounts), out


@WORKS_TODAY
def test_no_kernel_module_and_no_raw_io(box):
    out = inside(box, "probe init-module; insmod /bin/probe && echo inserted; probe fibmap /bin/busybox")
    assert "loaded" not in out and "inserted" not in out and "FIBMAP allowed" not in out, out
    if Path("/proc/modules").exists():  # a kernel without modules says ENOSYS to everyone (see the capabilities)
        assert "init_module: Operation not permitted" in out, out
    assert "FIBMAP: Operation not permitted" in out, out


# -- other snapshots and the host's files -------------------------------------------------------


def test_other_snapshots_are_not_in_the_namespace(box):
    box("clone", "0")
    box("run", "2", "touch", "/marker-of-snapshot-2")
    out = inside(box, "find / -path /proc -prune -o -path /sys -prune -o -name 'marker-of-*' -print; echo searched")
    assert out == "searched\n", out


def test_the_chroot_cannot_be_climbed_out_of(box, tmp_path):
    marker = tmp_path / "host-marker"
    marker.write_text("on the host\n")
    out = inside(box, f"probe chroot-escape {marker}")
    assert "escaped" not in out and "stayed inside" in out, out


@WORKS_TODAY
def test_no_file_handle_opens_another_snapshot(box):
    """open_by_handle_at (CAP_DAC_READ_SEARCH) would open any directory of the store's filesystem."""
    box("clone", "0")
    before = digest(box.snapshot(2))
    kind, handle = file_handle(box.snapshot(2))
    out = inside(box, f"probe handle-edit {kind} {handle} edited")
    assert not (box.snapshot(2) / "edited").exists(), out
    assert digest(box.snapshot(2)) == before and btrfs.is_readonly(box.snapshot(2))
    assert "open_by_handle_at: Operation not permitted" in out, out
    quiet_check(box)
