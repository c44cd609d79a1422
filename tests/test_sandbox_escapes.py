"""Escapes from a snapshot's sandbox, each tried for real by root inside ``ash run``, each refused.

A package's maintainer script runs there as root. Whatever it tries, the host, the store and every
other snapshot stay as they were. The test root is the busybox root with more applets and
``/bin/probe`` (``sandbox_probe.c``, built statically here) for what busybox cannot do.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ash_testing.cli import Ash
from ash_testing.mounts import block_device_of
from ash_testing.require import require, require_root_tools
from ash_testing.snapshots import digest
from ash_testing.terminal import talk

from ashcore.api import AshError, Bind, Chroot, Device
from ashcore.fs import btrfs

pytestmark = pytest.mark.root

PROBE_SOURCE = Path(__file__).with_name("sandbox_probe.c")
APPLETS = ("mount", "umount", "mknod", "dd", "grep", "find", "head", "stat", "readlink", "insmod", "wc", "tty", "tr")
BTRFS_MAGIC = "_BHRfS_M"  # at 64 KiB + 64 on every btrfs device
REFUSED = "mount: permission denied"  # busybox's words for EPERM


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


def test_the_stores_block_device_cannot_be_mounted(box):
    """The issue's escape: mount the store's disk, lift a snapshot's read-only flag, change it, set the
    flag again. ``ash check`` could not tell."""
    device, _, _, top = block_device_of(box.sysroot)  # the session's filesystem, mounted at its top
    rel = box.snapshot(0).relative_to(top)
    before = digest(box.snapshot(0))
    out = inside(
        box,
        f"ls {device}; mkdir -p /mnt && mount -t btrfs {device} /mnt && probe readonly /mnt/{rel} off && "
        f"echo edited > /mnt/{rel}/edited && probe readonly /mnt/{rel} on",
    )
    assert not (box.snapshot(0) / "edited").exists(), out
    assert digest(box.snapshot(0)) == before
    assert btrfs.is_readonly(box.snapshot(0))
    quiet_check(box)
    assert f"{device}: No such file or directory" in out and REFUSED in out, out


def test_nothing_can_be_mounted(box):
    out = inside(box, "mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; mount --bind /bin /mnt && echo bound")
    assert "mounted" not in out and "bound" not in out, out
    assert out.count(REFUSED) == 2, out


def test_no_block_device_node_can_be_made(box):
    _, major, minor, _ = block_device_of(box.sysroot)
    out = inside(box, f"mknod /disk b {major} {minor} && dd if=/disk bs=64 skip=1025 count=1 | grep -c {BTRFS_MAGIC}")
    assert "Operation not permitted" in out and "records" not in out, out


def test_a_device_node_in_the_snapshot_is_not_usable(box):
    """A node already in a snapshot (left by a tool on the host, or a package) opens nothing."""
    _, major, minor, _ = block_device_of(box.sysroot)
    box("mutable", "1")
    os.mknod(box.snapshot(1) / "disk", stat.S_IFBLK | 0o600, os.makedev(major, minor))
    out = inside(box, f"dd if=/disk bs=64 skip=1025 count=1 | grep -c {BTRFS_MAGIC}")
    assert out.splitlines()[0] == "0" and "can't open '/disk': Permission denied" in out, out


def test_a_loop_device_of_the_host_cannot_be_written(box, tmp_path):
    """The issue's other escape: a postinst wrote a host file through a loop device attached to it."""
    host_file = tmp_path / "host.img"
    host_file.write_bytes(bytes(1 << 20))
    loop = subprocess.run(
        ["losetup", "--find", "--show", host_file], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        out = inside(box, f"ls {loop}; echo pwned | dd of={loop} conv=notrunc")
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    assert host_file.read_bytes() == bytes(1 << 20), out
    assert f"{loop}: No such file or directory" in out, out


# -- the kernel ---------------------------------------------------------------------------------


def test_sys_and_proc_sys_cannot_be_remounted_or_written(box):
    out = inside(
        box,
        "mount -o remount,rw /sys && echo sys-rw; mount -o remount,rw /proc/sys && echo proc-sys-rw; "
        "umount /proc/sys && echo proc-sys-gone; echo x > /proc/sys/kernel/hostname && echo hostname; "
        "echo h > /proc/sysrq-trigger && echo sysrq; grep -E ' /(sys|proc/sys) ' /proc/self/mounts",
    )
    if Path("/proc/sysrq-trigger").exists():  # echo b would reboot the host
        assert "Permission denied" in out or "Read-only file system" in out, out
    for escaped in ("sys-rw", "proc-sys-rw", "proc-sys-gone", "hostname", "sysrq"):
        assert f"\n{escaped}\n" not in f"\n{out}", out
    mounts = [line.split() for line in out.splitlines() if line.startswith(("sysfs ", "proc "))]
    assert {m[1] for m in mounts} == {"/sys", "/proc/sys"}, out
    assert all(m[3].split(",")[0] == "ro" for m in mounts), out


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


# -- what the sandbox gives instead -------------------------------------------------------------

#: systemd-nspawn's default capabilities without CAP_SYS_ADMIN, CAP_MKNOD, CAP_DAC_READ_SEARCH,
#: CAP_SYS_BOOT and CAP_AUDIT_CONTROL (by number, from linux/capability.h)
KEPT = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "LINUX_IMMUTABLE": 9,
    "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11,
    "NET_RAW": 13,
    "IPC_OWNER": 15,
    "SYS_CHROOT": 18,
    "SYS_PTRACE": 19,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
    "SYS_TTY_CONFIG": 26,
    "LEASE": 28,
    "AUDIT_WRITE": 29,
    "SETFCAP": 31,
}
NEVER = {
    "DAC_READ_SEARCH": 2,
    "NET_ADMIN": 12,
    "IPC_LOCK": 14,
    "SYS_MODULE": 16,
    "SYS_RAWIO": 17,
    "SYS_ADMIN": 21,
    "SYS_BOOT": 22,
    "SYS_TIME": 25,
    "MKNOD": 27,
    "AUDIT_CONTROL": 30,
    "MAC_ADMIN": 33,
    "SYSLOG": 34,
    "PERFMON": 38,
    "BPF": 39,
}


def status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_the_command_and_pid_1_keep_only_the_kept_capabilities(box):
    with open("/proc/self/status") as f:
        host_bounding = int(status_fields(f.read())["CapBnd"], 16)
    kept = sum(1 << bit for bit in KEPT.values()) & host_bounding
    out = inside(box, "cat /proc/self/status; echo =====; cat /proc/1/status")
    for status in map(status_fields, out.split("=====\n")):
        assert {k: int(status[k], 16) for k in ("CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb")} == {
            "CapBnd": kept,
            "CapPrm": kept,
            "CapEff": kept,
            "CapInh": 0,
            "CapAmb": 0,
        }, status
        assert not any(int(status["CapBnd"], 16) & (1 << bit) for bit in NEVER.values())
        assert status["NoNewPrivs"] == "0", "set-user-ID programs still work (see script.py)"


def test_dev_is_a_few_bound_nodes_and_a_private_pts(box):
    out = inside(
        box,
        "ls -A /dev; echo; ls -A /dev/pts; readlink /dev/ptmx; probe pty; "
        "grep -E ' /dev(/pts)? ' /proc/self/mounts; echo data > /dev/null && echo null-ok",
    )
    listing, rest = out.split("\n\n", 1)
    assert listing.split() == [
        "fd",
        "full",
        "mqueue",
        "null",
        "ptmx",
        "pts",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "tty",
        "urandom",
        "zero",
    ], out
    lines = rest.splitlines()
    assert lines[:3] == ["ptmx", "pts/ptmx", "terminal /dev/pts/0"], (
        out
    )  # a new devpts instance: the host's ptys are not there
    mounts = {fields[1]: fields for fields in (line.split() for line in lines[3:-1])}
    assert mounts["/dev"][2] == "tmpfs" and "nosuid" in mounts["/dev"][3].split(","), out
    assert mounts["/dev/pts"][2] == "devpts" and {"ptmxmode=666", "mode=620", "gid=5"} <= set(
        mounts["/dev/pts"][3].split(",")
    )
    assert lines[-1] == "null-ok", out


def test_pid_1_holds_no_host_file(box):
    """The store's lock stays with the process outside the namespace; PID 1 has only the standard streams."""
    assert inside(box, "ls /proc/1/fd").split() == ["0", "1", "2"]


def test_a_terminal_is_the_console(box):
    status, shown = talk(box.argv("run", "1", "sh", "-c", "tty; ls -l /dev/console"))
    assert status == 0, shown
    lines = shown.splitlines()
    assert lines[0] == "/dev/console" and lines[1].startswith("c") and lines[1].endswith(" /dev/console"), lines


# -- the devices a caller names ----------------------------------------------------------------


def loop_device(image: Path) -> str:
    return subprocess.run(
        ["losetup", "--find", "--show", image], check=True, capture_output=True, text=True
    ).stdout.strip()


def loops_over(device: str) -> list[str]:
    """Loop devices whose backing file is ``device``."""
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        if backing.read_text().strip() == device:
            found.append(backing.parent.parent.name)
    return found


@pytest.fixture
def three_disks(tmp_path):
    """Three loop devices: an empty disk, one with an ext4 filesystem holding /hello, one more."""
    require_root_tools("mkfs.ext4")
    images = [tmp_path / f"disk{i}.img" for i in range(3)]
    for image in images:
        with open(image, "wb") as f:
            f.truncate(8 << 20)
    content = tmp_path / "content"
    content.mkdir()
    (content / "hello").write_text("hello from another disk\n")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", content, images[1]], check=True)
    loops = [loop_device(image) for image in images]
    try:
        yield list(zip(loops, images, strict=True))
    finally:
        for loop in loops:
            subprocess.run(["losetup", "--detach", loop], check=True)


def test_a_command_gets_exactly_the_devices_named(escape_root, three_disks, tmp_path):
    (disk, disk_image), (other, other_image), (unnamed, _) = three_disks
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", escape_root, root], check=True)
    before = hashlib.sha256(other_image.read_bytes()).hexdigest()
    chroot = Chroot(
        root=root, snapshot=None, devices=[Device(Path(disk), readonly=False), Device(Path(other), mount="/run/other")]
    )
    out = chroot.run(
        [
            "sh",
            "-c",
            f"ls /dev | grep loop; echo written | dd of={disk} conv=notrunc 2>/dev/null; "
            f"echo pwned | dd of={other} conv=notrunc; cat /run/other/hello; touch /run/other/new; "
            f"grep ' /run/other ' /proc/self/mounts; ls {unnamed}",
        ],
        check=False,
        capture=True,
    )
    text = out.stdout + out.stderr
    assert sorted(out.stdout.split("\n\n")[0].splitlines()[:2]) == sorted([Path(disk).name, Path(other).name]), text
    assert disk_image.read_bytes().startswith(b"written\n"), "the writable device is the disk itself"
    assert hashlib.sha256(other_image.read_bytes()).hexdigest() == before, "the read-only device was written"
    assert "Operation not permitted" in text or "Read-only file system" in text, text
    assert "hello from another disk" in text and "touch: /run/other/new: Read-only file system" in text, text
    assert f"{other} /run/other ext4 ro," in text, "mounted read-only, shown by its name in the chroot"
    assert f"{unnamed}: No such file or directory" in text, text
    deadline = time.monotonic() + 10
    while loops_over(other):  # the read-only loop device went with the namespace
        assert time.monotonic() < deadline, loops_over(other)
        time.sleep(0.1)


def test_only_block_devices_can_be_named(tmp_path):
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "file", Path("/dev/null")):
        with pytest.raises(AshError, match="is not a block device under /dev"):
            Device(path).spec()


# -- links in the snapshot ----------------------------------------------------------------------


def test_a_link_in_the_snapshot_does_not_lead_its_mounts_to_the_host(box):
    """The sandbox makes its mount points on the host side, before the chroot: a snapshot's link (an
    absolute one, as links in a root are) is followed within the snapshot, not on the host."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:  # not below /tmp, the link's own name
        outside = Path(tmp)
        (outside / "tmp").mkdir()
        box("mutable", "1")
        (box.snapshot(1) / "tmp").symlink_to(outside / "tmp")
        out = inside(box, "echo x > /tmp/file && cat /tmp/file")
        assert out == "x\n", "the link leads to a directory inside the snapshot, where the tmpfs is"
        assert list(outside.rglob("*")) == [outside / "tmp"]
        assert (box.snapshot(1) / outside.relative_to("/") / "tmp").is_dir()


def test_a_link_in_the_root_does_not_lead_a_bind_to_the_host(escape_root, tmp_path):
    root, outside, cache = tmp_path / "root", tmp_path / "host-directory", tmp_path / "cache"
    subprocess.run(["cp", "-a", escape_root, root], check=True)
    outside.mkdir()
    (root / "var").mkdir(exist_ok=True)
    (root / "var/cache").symlink_to(outside)
    cache.mkdir()
    (cache / "package").write_text("cached\n")
    chroot = Chroot(root=root, snapshot=None, binds=[Bind(cache, "/var/cache/pkg")])
    assert chroot.run(["cat", "/var/cache/pkg/package"], capture=True, check=False).stdout == "cached\n"
    assert list(outside.iterdir()) == [], "a directory was made on the host"
