"""Dual boot, proven by booting: ash's menu boots other Linux systems on other partitions, found by
os-prober.

One BIOS disk (msdos) holds two other Debian systems and ash, on partition 3 (``ash setup PARTITION
DISK``). Each other system is the cached base extracted onto ext4, with its own kernel, initramfs,
fstab and host name, and a unit that reports ``other system`` on the serial console. The first has
its own GRUB menu (os-prober takes the kernel arguments from it), the second none (os-prober's
fallback finds its kernel and names its root by the device: the name the host gave it). Snapshot 1
gets Debian's os-prober from the overlay's local apt repository and ``GRUB_DISABLE_OS_PROBER=false``
(the seed's recipe), and is deployed from the host, where os-prober is given the other partitions
read-only. The menu must have an entry for each, booting it by its filesystem's UUID; real GRUB boots
ash's default entry when the countdown ends, and each other system when its entry is chosen on the
serial console, as a user would choose it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import uuid
from pathlib import Path

import attrs
import pytest
from ash_testing import qemu
from ash_testing.cli import ASH, Ash
from ash_testing.images import BOOT_TIMEOUT, boot_and_check, build_overlay, on_image
from ash_testing.require import require_root_tools

from ashcore.install import installer
from ashcore.install.disks import Guard

pytestmark = pytest.mark.slow

OTHER_REPORT = """#!/bin/sh
# The other system's report on the serial console, then power off (ash-report.service).
echo "ASH-REPORT-BEGIN"
echo "ASH-REPORT system: other system"
echo "ASH-REPORT hostname: $(cat /etc/hostname)"
echo "ASH-REPORT cmdline: $(cat /proc/cmdline)"
echo "ASH-REPORT root: $(findmnt -no SOURCE,FSTYPE /)"
echo "ASH-REPORT ash: $(command -v ash || echo none)"
echo "ASH-REPORT-END"
systemctl poweroff --no-block
"""
#: the kernel arguments of the first other system's own menu (which os-prober reads back)
OWN_ARGS = "ro console=ttyS0,115200 panic=10 ash.report=1"
#: what GRUB's menu prints under the entries (its countdown runs until a key is pressed)
MENU_SHOWN = "keys to select which entry is highlighted"
#: the deployed snapshot's own settings, after the overlay's (which boot at once, on the serial console)
GRUB_SETTINGS = "GRUB_DISABLE_OS_PROBER=false\nGRUB_TIMEOUT=10\n"


@attrs.frozen
class Other:
    """Another system on the disk."""

    hostname: str
    own_menu: bool  # whether it has its own GRUB menu
    uuid: str = attrs.field(factory=lambda: str(uuid.uuid4()))  # of its filesystem
    kernel: str = ""  # its kernel and initramfs, as paths in it
    initrd: str = ""
    digest: str = ""  # of its partition before ash deployed anything


@attrs.frozen
class DualBoot:
    image: Path
    others: tuple[Other, ...]  # on partitions 1, 2, ...


@pytest.fixture(scope="module")
def dualboot(debian_base, os_prober_deb, tmp_path_factory) -> DualBoot:
    """The disk: the other systems on partitions 1 and 2, ash on partition 3 with snapshot 1
    (os-prober, GRUB_DISABLE_OS_PROBER=false) deployed."""
    require_root_tools("mkfs.ext4", "blkid", "sfdisk", "partx")
    top = tmp_path_factory.mktemp("dualboot")
    overlay = build_overlay(top / "overlay", debs=(os_prober_deb,), report=("os-prober",))
    image, others = top / "disk.img", [Other("other", own_menu=True), Other("other-fallback", own_menu=False)]
    with open(image, "wb") as f:
        f.truncate(10 << 30)
    table = "label: dos\nstart=2048, size=2GiB\nsize=2GiB\ntype=83, bootable\n"  # the others, then ash
    subprocess.run(["sfdisk", "--quiet", image], input=table, text=True, check=True)
    with Guard() as guard:
        disk, (*partitions, target) = guard.attach(image)
        for i, (other, partition) in enumerate(zip(others, partitions, strict=True)):
            subprocess.run(["mkfs.ext4", "-q", "-U", other.uuid, partition], check=True)
            with Guard() as mounted:
                other = other_system(mounted.mount(partition, mounted.tempdir()), debian_base, other)
            others[i] = attrs.evolve(other, digest=digest(partition))
        subprocess.run(
            [
                *ASH,
                "setup",
                target,
                disk,
                "--from",
                debian_base,
                "--overlay",
                overlay,
                "--hostname",
                "dualboot",
                "--root-password",
                "ash",
                "--yes",
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    on_image(
        image,
        ("clone", "0", "--desc", "with os-prober"),
        ("refresh", "1"),
        ("install", "1", "os-prober"),
        ("run", "1", "sh", "-c", 'printf "%s" "$1" >> /etc/default/grub', "sh", GRUB_SETTINGS),
        ("deploy", "1"),
    )
    return DualBoot(image, tuple(others))


def other_system(root: Path, base: Path, other: Other) -> Other:
    """Make ``root`` the other system: the Debian base, with an fstab, a host name, a report unit
    and, if ``other`` has one, its own GRUB menu; ``other`` with its kernel and initramfs."""
    subprocess.run(
        ["tar", "--extract", "--zstd", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-f", base, "-C", root],
        check=True,
    )
    (kernel,) = (p.relative_to(root) for p in (root / "boot").glob("vmlinuz-*"))
    initrd = kernel.with_name(kernel.name.replace("vmlinuz-", "initrd.img-"))
    assert (root / initrd).is_file(), f"the base has no {initrd}"
    qemu.report_overlay(root, script=OTHER_REPORT)
    (root / "etc/fstab").write_text(f"UUID={other.uuid} / ext4 errors=remount-ro 0 1\n")
    (root / "etc/hostname").write_text(f"{other.hostname}\n")
    if other.own_menu:
        (root / "boot/grub").mkdir(parents=True, exist_ok=True)
        (root / "boot/grub/grub.cfg").write_text(
            f"menuentry 'Other Debian' --class debian {{\n"
            f"\tsearch --no-floppy --fs-uuid --set=root {other.uuid}\n"
            f"\tlinux /{kernel} root=UUID={other.uuid} {OWN_ARGS}\n"
            f"\tinitrd /{initrd}\n"
            "}\n"
        )
    else:  # booted with nothing but root=: it reports whatever the kernel command line says
        drop_in = root / "etc/systemd/system/ash-report.service.d"
        drop_in.mkdir(parents=True)
        (drop_in / "always.conf").write_text("[Unit]\nConditionKernelCommandLine=\n")  # the empty value resets it
    return attrs.evolve(other, kernel=f"/{kernel}", initrd=f"/{initrd}")


def digest(device: Path) -> str:
    with open(device, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def menu_of(image: Path) -> str:
    with installer.open_system(image) as view:
        return (Ash(view).store / "boot/grub/grub.cfg").read_text()


def entries(menu: str) -> list[list[str]]:
    """The lines of the menu's top-level entries and submenus, as GRUB numbers them (0 first)."""
    found: list[list[str]] = []
    for line in menu.splitlines():
        if re.match(r"(menuentry|submenu) ", line):
            found.append([])
        if found and found[-1][-1:] != ["}"]:
            found[-1].append(line)
    return found


def entry_of(menu: str, other: Other) -> int:
    """The number of the only entry that boots ``other``'s filesystem."""
    (index,) = (i for i, lines in enumerate(entries(menu)) if f"--set=root {other.uuid}" in "\n".join(lines))
    return index


def test_the_menu_has_the_other_systems(dualboot):
    """After ``ash deploy``, the menu boots each other system by its filesystem's UUID (also the one
    os-prober found named by a device of the host), with its own kernel and initramfs, after ash's
    entries; os-prober wrote nothing on their partitions."""
    menu = menu_of(dualboot.image)
    assert entries(menu)[0][0].startswith("menuentry 'Debian GNU/Linux 12 (bookworm), snapshot 1' "), menu
    own, fallback = dualboot.others
    assert entries(menu)[entry_of(menu, own)] == [
        f"menuentry 'Other Debian (on {partition_name(menu, own)})' --class gnu-linux {{",
        f"\tsearch --no-floppy --fs-uuid --set=root {own.uuid}",
        f"\tlinux {own.kernel} root=UUID={own.uuid} {OWN_ARGS}",
        f"\tinitrd {own.initrd}",
        "}",
    ], menu
    assert entries(menu)[entry_of(menu, fallback)] == [
        f"menuentry 'Debian GNU/Linux 12 (bookworm) (on {partition_name(menu, fallback)})' --class gnu-linux {{",
        f"\tsearch --no-floppy --fs-uuid --set=root {fallback.uuid}",
        f"\tlinux {fallback.kernel} root=UUID={fallback.uuid}",
        f"\tinitrd {fallback.initrd}",
        "}",
    ], menu
    assert 0 < entry_of(menu, own) < entry_of(menu, fallback), "ash's entries first, the others in disk order"
    with Guard() as guard:
        for other, partition in zip(dualboot.others, guard.attach(dualboot.image)[1], strict=False):
            assert digest(partition) == other.digest, f"{partition} was written"


def partition_name(menu: str, other: Other) -> str:
    """The name the host gave ``other``'s partition when ash deployed (a loop device's), as in its title."""
    found = re.search(r"\(on (/dev/[^)]+)\)", entries(menu)[entry_of(menu, other)][0])
    assert found, menu
    return found.group(1)


def test_the_default_entry_boots_ash(dualboot, tmp_path):
    """GRUB shows the other systems' entries and, when the countdown ends, boots ash's default entry:
    snapshot 1, with os-prober in it, from partition 3."""
    result = boot_and_check(
        dualboot.image, "bios", tmp_path / "default.log", snapshot=1, package=False, partition="vda3"
    )
    assert result.report["package-os-prober"].startswith("install ok installed"), result.tail()
    assert result.first(MENU_SHOWN) is not None, "GRUB showed no menu"
    assert result.first("Other Debian (on /dev/") is not None, "GRUB's menu did not show the other system"


@pytest.mark.parametrize("which", [0, 1], ids=["own-menu", "fallback"])
def test_the_other_systems_entry_boots_it(dualboot, which, tmp_path):
    """The other system's entry, chosen in GRUB's menu on the serial console, boots that system from
    its own partition, with the kernel arguments of its own menu (or, without one, only its root)."""
    other = dualboot.others[which]
    index = entry_of(menu_of(dualboot.image), other)
    log = tmp_path / f"{other.hostname}.log"
    result = qemu.boot(
        dualboot.image, firmware="bios", log=log, timeout=BOOT_TIMEOUT, keys=((MENU_SHOWN, b"v" * index + b"\r"),)
    )
    report, context = result.report, f"\n--- console tail ({log}) ---\n{result.tail()}"
    assert result.reported, f"the other system never reported (timed out: {result.timed_out}){context}"
    assert report["system"] == "other system", context
    assert report["hostname"] == other.hostname, context
    assert report["root"].split() == [f"/dev/vda{which + 1}", "ext4"], context
    args = [f"root=UUID={other.uuid}", *(OWN_ARGS.split() if other.own_menu else ())]
    assert report["cmdline"].split() == [f"BOOT_IMAGE={other.kernel}", *args], context
    assert report["ash"] == "none", context
    assert result.returncode == 0, f"QEMU exited with {result.returncode}{context}"
