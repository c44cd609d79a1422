"""The installer's refusals, on real loop-device disks: each is one line, and nothing is written.

Whole installations (Debian, BIOS and UEFI, booted) are in test_boot.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import pytest
from ash_testing.cli import ASH

from ashcore.install.disks import BlockDevice, Guard, forget_partitions

pytestmark = pytest.mark.usefixtures("root_tools")  # ash setup needs root before it checks anything


def ash(*args, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASH, *map(os.fspath, args)], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs
    )


def refused(out: subprocess.CompletedProcess[str], reason: str) -> None:
    assert out.returncode == 2, out
    first = out.stderr.splitlines()[0]
    assert first.startswith("ash: error: ") and reason in first, out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2, out.stderr


def fingerprint(device: Path) -> str:
    with open(device, "rb") as f:
        return hashlib.sha256(f.read(4 << 20)).hexdigest()


@pytest.fixture
def disk(tmp_path, root_tools):
    """A 6 GiB loop-device disk: partition 1 of 4 GiB, partition 2 of 1 GiB (sparse)."""
    root_tools("sfdisk", "partx", "blkid")
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(6 << 30)
    subprocess.run(
        ["sfdisk", "--quiet", image], input="label: dos\nstart=2048, size=4GiB\nsize=1GiB\n", text=True, check=True
    )
    with Guard() as guard:
        loop, parts = guard.attach(image)
        yield loop, parts


@pytest.fixture
def other_disk(tmp_path):
    image = tmp_path / "other.img"
    with open(image, "wb") as f:
        f.truncate(4 << 30)
    subprocess.run(["sfdisk", "--quiet", image], input="label: dos\nstart=2048\n", text=True, check=True)
    with Guard() as guard:
        yield guard.attach(image)


def test_refuses_what_is_not_what_it_was_told(disk, other_disk, tmp_path, busybox_root):
    loop, (p1, p2) = disk
    other, (q1,) = other_disk
    before = [fingerprint(p) for p in (loop, p1, p2, q1)]
    base = ["--from", busybox_root, "-y"]
    refused(ash("setup", q1, loop, *base), f"{q1} is not a partition of {loop}")
    refused(ash("setup", p1, p2, *base), f"{p2} is a partition, not a disk")
    refused(ash("setup", loop, loop, *base), f"{loop} is not a partition of {loop}")
    refused(ash("setup", p2, loop, *base), f"{p2} is too small (1.0 GiB; at least 3 GiB needed)")
    refused(ash("setup", tmp_path, loop, *base), f"{tmp_path} is not a block device")
    refused(ash("setup", p1, loop, "--firmware", "uefi", *base), "UEFI needs an EFI system partition")
    refused(ash("setup", p1, loop, p2, *base), f"{p2} is not FAT-formatted")
    refused(
        ash("setup", p1, loop, p2, "--firmware", "bios", *base), "an EFI system partition is only for --firmware uefi"
    )
    refused(ash("setup", p1, loop, "--firmware", "arm", *base), "unknown firmware 'arm'")
    refused(ash("setup", p1, loop, "--image", tmp_path / "x.img", *base), "give either --image FILE or PARTITION DISK")
    refused(ash("setup", p1, loop, "--from", busybox_root), "refusing to erase a partition without confirmation")
    assert [fingerprint(p) for p in (loop, p1, p2, q1)] == before


def test_refuses_a_disk_in_use(disk, tmp_path, busybox_root):
    loop, (p1, p2) = disk
    subprocess.run(["mkfs.btrfs", "-q", p2], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", p2, mnt], check=True)
    try:
        before = fingerprint(p1)
        refused(ash("setup", p1, loop, "--from", busybox_root, "-y"), f"{loop} is in use (mounted at {mnt})")
        assert fingerprint(p1) == before
    finally:
        subprocess.run(["umount", mnt], check=True)


def test_refuses_an_esp_on_another_disk(disk, other_disk, busybox_root, root_tools):
    root_tools("mkfs.vfat")
    loop, (p1, _) = disk
    _, (q1,) = other_disk
    subprocess.run(["mkfs.vfat", "-F", "32", q1], check=True, capture_output=True)
    before = [fingerprint(p) for p in (loop, p1, q1)]
    refused(ash("setup", p1, loop, q1, "--from", busybox_root, "-y"), f"{q1} is not a partition of {loop}")
    assert [fingerprint(p) for p in (loop, p1, q1)] == before


def test_holders_of_a_disk_and_its_partitions(disk, tmp_path):
    """LVM, open LUKS containers and md arrays show as holders in sysfs. This machine has no
    device-mapper to make one, so a test double of /sys/class/block stands in for sysfs."""
    loop, (p1, p2) = disk
    assert BlockDevice(loop).holders() == []  # the real sysfs
    fake_sys_block = tmp_path / "sys-class-block"
    (fake_sys_block / p1.name / "holders").mkdir(parents=True)
    (fake_sys_block / p2.name / "holders" / "dm-0").mkdir(parents=True)
    assert BlockDevice(p1).holders(fake_sys_block) == []
    assert BlockDevice(p2).holders(fake_sys_block) == ["dm-0"]
    assert BlockDevice(loop).holders(fake_sys_block) == ["dm-0"]


def test_refuses_bad_images(tmp_path, busybox_root):
    existing = tmp_path / "taken.img"
    existing.write_text("mine")
    refused(ash("setup", "--image", existing, "--from", busybox_root, "-y"), f"{existing} already exists")
    assert existing.read_text() == "mine"
    refused(ash("setup", "--image", tmp_path / "small.img", "--size", "1G", "-y"), "1.0 GiB is too small")
    missing = tmp_path / "missing"
    refused(
        ash("setup", "--image", missing / "x.img", "--size", "4G", "-y"),
        f"cannot create {missing / 'x.img'}: there is no directory {missing}",
    )
    refused(ash("setup", "--image", tmp_path / "x.img", "--size", "lots", "-y"), "'lots' is not a size")
    refused(
        ash("setup", "--image", tmp_path / "x.img", "--hostname", "no_such host", "-y"),
        "'no_such host' is not a host name",
    )
    out = ash("setup", "--image", tmp_path / "x.img", "-y", env={**os.environ, "ASH_DISABLED_PLUGINS": "grub"})
    assert out.returncode == 1 and "needs exactly one bootloader plugin, found none" in out.stderr
    out = ash("setup", "--image", tmp_path / "x.img", "--distro", "plan9", "-y")
    assert out.returncode == 1 and "no plugin manages distribution 'plan9'" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.img"]


def test_failed_install_leaves_nothing_behind(tmp_path, busybox_root, root_tools):
    """A base without python3 cannot carry ash: the installer stops, removes the image it made, and
    leaves no loop device or mount behind."""
    root_tools("sfdisk", "partx")
    image = tmp_path / "bad.img"
    out = ash("setup", "--image", image, "--size", "3G", "--from", busybox_root, "-y")
    assert out.returncode == 1 and "the new system has no python3" in out.stderr, out
    assert not image.exists()
    loops = subprocess.run(["losetup", "--list", "--noheadings"], capture_output=True, text=True, check=True).stdout
    assert os.fspath(image) not in loops, "a loop device (and so any mount of it) is left"


def test_refuses_bad_users_and_passwords(tmp_path, busybox_root):
    """Checked before anything is written, not after minutes of bootstrap; a control character in a
    password would give chpasswd extra ``user:password`` lines."""
    image = tmp_path / "x.img"
    base = ["setup", "--image", image, "--size", "4G", "--from", busybox_root, "-y"]
    refused(ash(*base, "--user", "root"), "--user root: root is there already")
    refused(ash(*base, "--user", "Bad User"), "'Bad User' is not a user name")
    refused(ash(*base, "--user=-rf"), "'-rf' is not a user name")
    refused(ash(*base, "--user", "a" * 33), f"'{'a' * 33}' is not a user name")
    refused(ash(*base, "--root-password", "secret\nmallory:x"), "the root password contains a control character")
    refused(
        ash(*base, "--user", "alice", "--user-password", "tab\there"),
        "the password of alice contains a control character",
    )
    assert list(tmp_path.iterdir()) == []


def test_failed_install_onto_a_partition_says_it_was_erased(disk, busybox_root):
    """A failure after the partition was formatted says so: what was there is gone, and what is
    there now is not a system."""
    loop, (p1, _) = disk
    out = ash("setup", p1, loop, "--from", busybox_root, "-y")
    assert out.returncode == 1, out
    first = out.stderr.splitlines()[0]
    assert (
        first == f"ash: error: {p1} was erased and the installation is incomplete:"
        " the new system has no python3, which ash needs"
    ), out.stderr
    assert out.stderr.splitlines()[1:] == ["hint: include python3 in its packages"]


def test_a_busy_partition_is_removed_once_it_is_free(disk, capfd):
    """The guard's ``partx -d`` waits while a partition is open elsewhere (a ``blkid``, os-prober on
    the host): a partition left would stay on the free loop device after ``losetup -d``, and the next
    image attached there could not have its partitions added."""
    loop, (p1, p2) = disk
    with open(p1, "rb") as held:
        threading.Timer(1.0, held.close).start()
        forget_partitions(loop)
    assert BlockDevice(loop).partitions() == []
    forget_partitions(loop)  # none left: nothing to do
    assert capfd.readouterr().err == "", "no warning"
