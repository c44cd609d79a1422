"""Debian's own os-prober in the sandbox, which may not mount anything: ash gives it the partitions it
probes read-only and mounted, and it finds the other Linux on a real disk (a loop device)."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pytest
from ash_grub import osprober
from ash_testing.require import require_root_tools

from ashcore.api import BootTarget, DeployContext
from ashcore.install.disks import Guard

pytestmark = pytest.mark.root


@pytest.fixture
def deployment(busybox_root, os_prober_deb, tmp_path) -> Path:
    """A busybox root (every applet, as os-prober's scripts need many) with os-prober unpacked in it."""
    root = tmp_path / "deployment"
    subprocess.run(["cp", "-a", busybox_root, root], check=True)
    for applet in subprocess.run(
        [root / "bin/busybox", "--list"], check=True, capture_output=True, text=True
    ).stdout.split():
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    subprocess.run(["dpkg-deb", "-x", os_prober_deb, root], check=True)
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text("GRUB_DISABLE_OS_PROBER=false\n")
    return root


OTHER = {
    "etc/os-release": 'NAME="Other"\nPRETTY_NAME="Other Linux 12"\n',
    "lib64/ld-linux-x86-64.so.2": "",
    "boot/vmlinuz-6.1.0-other": "k",
    "boot/initrd.img-6.1.0-other": "i",
}


@pytest.fixture
def other_disk(request, tmp_path):
    """A disk whose first partition holds another Linux (ext4: the files of OTHER, changed by the
    test's parameter, a file None is left out), the second nothing."""
    require_root_tools("sfdisk", "partx", "mkfs.ext4", "blkid")
    image, other = tmp_path / "disk.img", tmp_path / "other"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(
        ["sfdisk", "--quiet", image], input="label: dos\nstart=2048, size=32MiB\nsize=16MiB\n", text=True, check=True
    )
    for rel, text in {**OTHER, **getattr(request, "param", {})}.items():
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            (other / rel).write_text(text)
    with Guard() as guard:
        disk, (linux, empty) = guard.attach(image)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", other, linux], check=True)
        yield disk, linux, empty


def context(deployment: Path, tmp_path: Path) -> DeployContext:
    return DeployContext(
        sysroot=tmp_path,
        store=tmp_path / ".snapshots",
        snapshot=1,
        deployment=deployment,
        default=BootTarget(1, deployment, "@.snapshots/deploy/1-1", ""),
    )


def test_os_prober_finds_the_other_linux_through_read_only_partitions(deployment, other_disk, tmp_path):
    """... and boots it by its filesystem's UUID, not by the name the partition has here (a loop
    device's, which the machine booting the menu does not have)."""
    disk, linux, empty = other_disk
    ctx = context(deployment, tmp_path)
    probed = [d.path for d in osprober.partitions(ctx)]
    assert linux in probed and empty not in probed, "only partitions with a filesystem are given to os-prober"
    uuid = osprober.uuid_of(str(linux))
    before = hashlib.sha256(linux.read_bytes()).hexdigest()
    lines = osprober.entries(ctx)
    ours = lines[lines.index(f"menuentry 'Other Linux 12 (on {linux})' --class gnu-linux {{") :][:5]
    assert ours == [
        f"menuentry 'Other Linux 12 (on {linux})' --class gnu-linux {{",
        f"\tsearch --no-floppy --fs-uuid --set=root {uuid}",
        f"\tlinux /boot/vmlinuz-6.1.0-other root=UUID={uuid}",
        "\tinitrd /boot/initrd.img-6.1.0-other",
        "}",
    ], lines
    assert hashlib.sha256(linux.read_bytes()).hexdigest() == before, "os-prober's partition was written"
    deadline = time.monotonic() + 10
    while any(p.read_text().strip() == str(linux) for p in Path("/sys/block").glob("loop*/loop/backing_file")):
        assert time.monotonic() < deadline, "the read-only loop device outlived the sandbox"
        time.sleep(0.1)


#: the other system's own menu, as Arch writes it: a microcode image before the initramfs
OWN_MENU = """menuentry 'Other Linux, own menu' --class other {
\tlinux /boot/vmlinuz-6.1.0-other root=/dev/sda2 ro quiet
\tinitrd /boot/intel-ucode.img /boot/initrd.img-6.1.0-other
}
"""

#: the end of Ubuntu's menu entries: a variable its own menu sets (vt.handoff=7), ash's does not
UBUNTU_MENU = """menuentry 'Other Linux, Ubuntu style' --class ubuntu {
\tlinux /boot/vmlinuz-6.1.0-other root=UUID=x ro quiet splash $vt_handoff
\tinitrd /boot/initrd.img-6.1.0-other
}
"""


@pytest.mark.parametrize(
    "other_disk, expected",
    [
        (
            {"boot/grub/grub.cfg": OWN_MENU, "boot/intel-ucode.img": "u"},
            [
                "\tlinux /boot/vmlinuz-6.1.0-other root=/dev/sda2 ro quiet",
                "\tinitrd /boot/intel-ucode.img /boot/initrd.img-6.1.0-other",
            ],
        ),
        ({"boot/initrd.img-6.1.0-other": None}, ["\tlinux /boot/vmlinuz-6.1.0-other root=PARTUUID={partuuid}"]),
        (
            {"boot/grub/grub.cfg": UBUNTU_MENU},
            [
                "\tlinux /boot/vmlinuz-6.1.0-other root=UUID=x ro quiet splash",
                "\tinitrd /boot/initrd.img-6.1.0-other",
            ],
        ),
    ],
    ids=["initramfs-of-two-files", "no-initramfs", "grub-variable"],
    indirect=["other_disk"],
)
def test_the_other_linuxs_initramfs_files_and_root(deployment, other_disk, expected, tmp_path):
    """Every file of an initramfs of several (a microcode image, then the initramfs) is a word of its
    own, and a root named by a device os-prober was not given stays as the system's menu names it;
    without an initramfs, the kernel finds the root by its partition's UUID; an argument that is a
    GRUB variable of the system's own menu, which ash's does not set, is left out, not the system."""
    _, linux, _ = other_disk
    partuuid = subprocess.run(
        ["blkid", "--probe", "--match-tag", "PART_ENTRY_UUID", "--output", "value", linux],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = osprober.entries(context(deployment, tmp_path))
    start = next(i for i, line in enumerate(lines) if line.startswith("menuentry 'Other Linux"))
    assert lines[start + 2 : start + 2 + len(expected)] == [e.format(partuuid=partuuid) for e in expected], lines
    assert lines[start + 2 + len(expected)] == "}", lines


def test_ashs_own_devices_are_not_probed(tmp_path):
    """The devices of ash's filesystem, and what they are made of (an encrypted container's partition)."""
    sys = tmp_path / "sys"
    (sys / "fs/btrfs/UUID/devices/dm-0").mkdir(parents=True)
    (sys / "class/block/dm-0/slaves/sda2").mkdir(parents=True)
    (sys / "class/block/sda2").mkdir(parents=True, exist_ok=True)
    ctx = DeployContext(sysroot=tmp_path, store=tmp_path, snapshot=1, deployment=tmp_path, fs_uuid="UUID")
    assert osprober.own_devices(ctx, sys) == {"dm-0", "sda2"}
