"""Proof by booting: Debian disk images made by the installer, changed with ash, booted in QEMU.

For each firmware (BIOS with msdos, UEFI with GPT and an ESP) one image is installed from a cached
debootstrap base (``/var/cache/ash-tests``; built once through the apt plugin's bootstrap hook).
Snapshot 1 is a clone of 0 with a package from a local apt repository, snapshot 2 a clone without
it. The image is booted (TCG; writes discarded) after ``ash deploy 1``, ``ash deploy 2`` and
``ash rollback``, and each time the guest's report on the serial console must name the deployed
snapshot, a read-only ``/``, a writable ``/etc`` and whether the package is there. In the last boot
the guest also runs ``ash etc-update`` and ``ash deploy`` itself. One more BIOS boot proves the
menu safe whatever snapshots hold (descriptions and settings that once broke it).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from ash_testing.cli import ASH, Ash
from ash_testing.images import PACKAGE, boot_and_check, build_image, on_image

from ashcore.install import installer

pytestmark = pytest.mark.slow


class Images(dict):
    """The installed image of each firmware, built when a test first asks for it (one test alone
    builds only the image it boots)."""

    def __init__(self, where: Path, base: Path, overlay: Path) -> None:
        super().__init__()
        self.where, self.base, self.overlay = where, base, overlay

    def __missing__(self, firmware: str) -> Path:
        self[firmware] = build_image(self.where, firmware, self.base, self.overlay)
        return self[firmware]


@pytest.fixture(scope="session")
def images(debian_base, overlay, tmp_path_factory) -> Images:
    return Images(tmp_path_factory.mktemp("images"), debian_base, overlay)


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_deploy_switch_and_rollback_boot(images, firmware, tmp_path):
    image = images[firmware]
    on_image(
        image,
        ("clone", "0", "--desc", "with the package"),
        ("refresh", "1"),
        ("install", "1", PACKAGE),
        ("clone", "0", "--desc", "without"),
        ("deploy", "1"),
    )
    boot_and_check(image, firmware, tmp_path / "1-deployed.log", snapshot=1, package=True)
    on_image(image, ("deploy", "2"))
    boot_and_check(image, firmware, tmp_path / "2-deployed.log", snapshot=2, package=False)
    with installer.open_system(image) as view:
        ash = Ash(view)
        ash("rollback")
        assert "1*- with the package" in ash("tree").stdout
        default = json.loads((ash.store / "ash/deploy.json").read_text())["default"]["id"]
        (ash.store / "deploy" / default / "etc/ash-report-deploy").write_text("2\n")  # see qemu.REPORT_SCRIPT
    result = boot_and_check(image, firmware, tmp_path / "3-rolled-back.log", snapshot=1, package=True)
    guest = result.report
    assert guest["guest-etc-update"] == "etc-update: /etc saved into snapshot 1", result.tail()
    assert guest["guest-etc-saved"] == "/.snapshots/rootfs/snapshot-1/etc/ash-report-deploy", result.tail()
    assert guest["guest-deploy"].startswith("deployed snapshot 2 (deployment 2-"), result.tail()
    assert guest["guest-state"] == '{"current":1,"booted":1,"deployed":2}', result.tail()
    assert "rootflags=subvol=@.snapshots/deploy/2-" in guest["guest-menu"], result.tail()


def test_hook_ash_bootloader_install(images):
    """The installer's bootloader step put GRUB where each firmware looks for it."""
    with open(images["bios"], "rb") as disk:
        mbr = disk.read(512)
    assert b"GRUB" in mbr and mbr[510:] == b"\x55\xaa"
    with installer.open_system(images["bios"]) as view:
        assert (view / ".snapshots/boot/grub/i386-pc/core.img").is_file()
        assert (view / ".snapshots/boot/grub/grub.cfg").is_file()
    esp = f"{images['uefi']}@@1M"  # mtools reads the ESP straight from the image, at its offset
    listing = subprocess.run(
        ["mdir", "-b", "-i", esp, "::/EFI/BOOT"], check=True, capture_output=True, text=True
    ).stdout
    assert "BOOTX64.EFI" in listing.upper()
    with installer.open_system(images["uefi"]) as view:
        assert (view / ".snapshots/boot/grub/x86_64-efi/normal.mod").is_file()


def test_self_update(images):
    """ash on an installed system is replaced by the ash that runs the command, and runs there."""
    from ashcore.boot import deploy

    with installer.open_system(images["bios"]) as view:
        ash = Ash(view)
        sid = ash("clone", "0").stdout.strip()
        ash("run", sid, "touch", "/usr/lib/ash/site/stale.py")
        assert ash("self-update", sid).stdout == f"self-update: snapshot {sid} has ash 0.1.0\n"
        site = ash.snapshot(int(sid)) / "usr/lib/ash/site"
        assert not (site / "stale.py").exists()
        assert (site / "ashcore/boot/deploy.py").read_bytes() == Path(deploy.__file__).read_bytes()
        assert "ash 0.1.0" in ash("run", sid, "ash", "--version").stdout
        assert ash("self-update", "0", check=False).returncode == 2


#: Descriptions and a non-deployed snapshot's /etc/default/grub that once broke the menu: GRUB aborted
#: on a token of 8192 bytes or more (no menu, no default, no fallback), and a kernel command line
#: written bare into the menu ran GRUB commands while the menu was read (here: wait forever, boot
#: another entry).
HOSTILE_DESCRIPTIONS = (
    "x" * 10_000,
    "'}\n}\nset timeout=-1\nset default=2\nmenuentry x {",
    "\x1b[2J\x1b[?25l escapes \x07 caf\udce9 $root ${prefix} `reboot` $(reboot)",
)
HOSTILE_GRUB = """GRUB_TIMEOUT=-1
GRUB_DEFAULT=2
GRUB_CMDLINE_LINUX="quiet ; } ; } ; set timeout=-1 ; set default=2 ; submenu x { menuentry y { true"
GRUB_CMDLINE_LINUX_DEFAULT='init=/bin/false } ; set timeout=-1'
"""


def test_a_menu_of_hostile_snapshots_boots_the_default(images, tmp_path):
    """Real GRUB reads a menu built from hostile descriptions and a hostile /etc/default/grub in a
    snapshot that is not deployed, and boots the default entry at once; the deployed snapshot's own
    argument with a space, ';' and '}' reaches the kernel as one argument."""
    image = images["bios"]
    with installer.open_system(image) as view:
        ash = Ash(view)
        deployed = ash("clone", "0", "--desc", HOSTILE_DESCRIPTIONS[0]).stdout.strip()
        hostile = ash("clone", "0", "--desc", HOSTILE_DESCRIPTIONS[1]).stdout.strip()
        ash("desc", ash("clone", "0").stdout.strip(), HOSTILE_DESCRIPTIONS[2])
        ash("run", hostile, "sh", "-c", 'printf "%s" "$1" > /etc/default/grub', "sh", HOSTILE_GRUB)
        ash(
            "run",
            deployed,
            "sh",
            "-c",
            'printf "%s\\n" "$1" >> /etc/default/grub',
            "sh",
            "GRUB_CMDLINE_LINUX_DEFAULT='ash.test=\"a b;c}\"'",
        )
        out = ash("deploy", deployed)
        assert [line.split(" is left out")[0] for line in out.stderr.splitlines()] == [
            f"ash: warning: snapshot {hostile}: GRUB_CMDLINE_LINUX",
            f"ash: warning: snapshot {hostile}: GRUB_CMDLINE_LINUX_DEFAULT",
        ], out.stderr
        menu = (ash.store / "boot/grub/grub.cfg").read_text()
    assert "set timeout=0\n" in menu and menu.count("set timeout") == 1, "only the deployed snapshot's timeout"
    result = boot_and_check(image, "bios", tmp_path / "hostile.log", snapshot=int(deployed), package=False)
    assert ' "ash.test=a b;c}" ' in f" {result.report['cmdline']} ", result.tail()


def test_install_onto_a_partition_leaves_the_rest_of_the_disk(debian_base, overlay, tmp_path):
    """``ash setup PARTITION DISK``: the other partition and the partition table stay as they were."""
    from ashcore.install.disks import Guard

    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(8 << 30)
    subprocess.run(
        ["sfdisk", "--quiet", image],
        input="label: dos\nstart=2048, size=1GiB\nsize=6GiB, bootable\n",
        text=True,
        check=True,
    )
    with Guard() as guard:
        disk, (data, target) = guard.attach(image)
        subprocess.run(["mkfs.ext2", "-q", "-L", "data", data], check=True)
        table = subprocess.run(["sfdisk", "--dump", disk], check=True, capture_output=True, text=True).stdout
        before = hashlib.sha256(data.read_bytes()).hexdigest()
        subprocess.run(
            [*ASH, "setup", target, disk, "--from", debian_base, "--overlay", overlay, "--hostname", "parted", "--yes"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        assert hashlib.sha256(data.read_bytes()).hexdigest() == before
        assert subprocess.run(["sfdisk", "--dump", disk], check=True, capture_output=True, text=True).stdout == table
    with installer.open_system(image) as view:
        assert Ash(view)("current").stdout == "0\n"
        base = view / ".snapshots/rootfs/snapshot-0"
        assert (base / "etc/hostname").read_text() == "parted\n"
        assert (base / "usr/share/man/man8/ash.8").read_text().startswith(".TH ASH 8 "), "ash(8) comes with ash"
        timer = base / "etc/systemd/system/timers.target.wants/ash-auto-upgrade.timer"
        assert os.readlink(timer) == "/usr/lib/systemd/system/ash-auto-upgrade.timer", "the update timer is enabled"
    with open(image, "rb") as f:
        assert b"GRUB" in f.read(512)
