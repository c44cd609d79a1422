"""grub.cfg from the tree's data: /etc/default/grub parsing, kernel choice, the menu, os-prober entries."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ash_grub import config, osprober

from ashcore.api import BootTarget, DeployContext

UUID = "2561ac1c-074a-46fa-8e37-68315ba91838"


def make_root(path: Path, *kernels: str, grub: str = "", os_release: str = 'PRETTY_NAME="Test OS 1"\n') -> Path:
    (path / "boot").mkdir(parents=True)
    (path / "etc/default").mkdir(parents=True)
    for version in kernels:
        (path / f"boot/vmlinuz-{version}").write_text("k")
        (path / f"boot/initrd.img-{version}").write_text("i")
    (path / "etc/default/grub").write_text(grub)
    (path / "etc/os-release").write_text(os_release)
    return path


def context(tmp_path: Path, default: Path, fallback: Path | None = None, snapshots: tuple[Path, ...] = ()) -> DeployContext:
    def target(sid: int, root: Path, where: str) -> BootTarget:
        return BootTarget(sid, root, f"@.snapshots/{where}", f"snapshot {sid}'s description")

    return DeployContext(
        sysroot=tmp_path,
        store=tmp_path / ".snapshots",
        snapshot=2,
        deployment=default,
        previous=1 if fallback else None,
        fs_uuid=UUID,
        store_subvolume="@.snapshots",
        default=target(2, default, "deploy/2-5"),
        fallback=target(1, fallback, "deploy/1-4") if fallback else None,
        snapshots=tuple(target(i, root, f"rootfs/snapshot-{i}") for i, root in enumerate(snapshots)),
    )


def test_settings_are_read_not_run(tmp_path):
    root = make_root(tmp_path / "r", grub="""\
# comment
GRUB_DEFAULT=0
GRUB_TIMEOUT=2
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"
GRUB_CMDLINE_LINUX='console=ttyS0,115200'
export GRUB_TERMINAL="serial console"
BROKEN="unterminated
""")  # fmt: skip
    (root / "etc/default/grub.d").mkdir()
    (root / "etc/default/grub.d/50-more.cfg").write_text('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX panic=10"\nX=$(touch /pwned)\n')
    assert config.read_settings(root) == {
        "GRUB_DEFAULT": "0",
        "GRUB_TIMEOUT": "2",
        "GRUB_CMDLINE_LINUX_DEFAULT": "quiet splash",
        "GRUB_CMDLINE_LINUX": "console=ttyS0,115200 panic=10",
        "GRUB_TERMINAL": "serial console",
    }
    assert config.cmdline(root) == "console=ttyS0,115200 panic=10 quiet splash"


def test_newest_kernel_with_an_initramfs(tmp_path):
    root = make_root(tmp_path / "r", "6.1.0-9-amd64", "6.1.0-10-amd64", "5.10.0-30-amd64")
    (root / "boot/vmlinuz-6.2.0-1-amd64").write_text("no initramfs for this one")
    assert config.kernel(root) == ("boot/vmlinuz-6.1.0-10-amd64", "boot/initrd.img-6.1.0-10-amd64")
    arch = tmp_path / "arch"
    (arch / "boot").mkdir(parents=True)
    (arch / "boot/vmlinuz-linux").write_text("k")
    (arch / "boot/initramfs-linux.img").write_text("i")
    assert config.kernel(arch) == ("boot/vmlinuz-linux", "boot/initramfs-linux.img")
    assert config.kernel(tmp_path) is None


def test_links_in_a_root_lead_within_it(tmp_path):
    """A root's links are followed as the root sees them: the kernel GRUB is given is the file the
    link leads to in that root, and a link to a host path finds nothing of the host's."""
    host = tmp_path / "host"
    make_root(host, "9.9.9-host", grub="GRUB_TIMEOUT=99\n", os_release='PRETTY_NAME="Host OS"\n')
    linked = make_root(tmp_path / "linked")
    (linked / "boot").rmdir()
    (linked / "boot-real").mkdir()
    (linked / "boot").symlink_to("/boot-real")  # absolute: the root's own /boot-real
    (linked / "kernels").mkdir()
    (linked / "kernels/vmlinuz-6.1.0-10-amd64").write_text("k")
    (linked / "boot-real/vmlinuz-6.1.0-10-amd64").symlink_to("/kernels/vmlinuz-6.1.0-10-amd64")
    (linked / "boot-real/initrd.img-6.1.0-10-amd64").write_text("i")
    (linked / "boot-real/vmlinuz-9.9.9-host").symlink_to(host / "boot/vmlinuz-9.9.9-host")
    (linked / "boot-real/initrd.img-9.9.9-host").symlink_to(host / "boot/initrd.img-9.9.9-host")
    (linked / "usr/lib").mkdir(parents=True)
    (linked / "usr/lib/os-release").write_text('PRETTY_NAME="Linked OS"\n')
    (linked / "etc/os-release").unlink()
    (linked / "etc/os-release").symlink_to("/usr/lib/os-release")
    (linked / "usr/share").mkdir()
    (linked / "usr/share/grub-default").write_text('GRUB_CMDLINE_LINUX="mine"\n')
    (linked / "etc/default/grub").unlink()
    (linked / "etc/default/grub").symlink_to("/usr/share/grub-default")
    assert config.kernel(linked) == ("kernels/vmlinuz-6.1.0-10-amd64", "boot-real/initrd.img-6.1.0-10-amd64")
    assert config.read_settings(linked) == {"GRUB_CMDLINE_LINUX": "mine"}

    to_host = make_root(tmp_path / "to-host")
    (to_host / "boot").rmdir()
    (to_host / "boot").symlink_to(host / "boot")  # a host directory, absent from the root itself
    (to_host / "etc/default/grub").unlink()
    (to_host / "etc/default/grub").symlink_to(host / "etc/default/grub")
    (to_host / "etc/default/grub.d").symlink_to("../../../host/etc/default")  # climbs out: stops at the root
    assert config.kernel(to_host) is None
    assert config.read_settings(to_host) == {}

    text = config.render(context(tmp_path, linked, snapshots=(to_host,)), config.read_settings(linked))
    assert "menuentry 'Linked OS, snapshot 2'" in text
    assert f"\tlinux /@.snapshots/deploy/2-5/kernels/vmlinuz-6.1.0-10-amd64 root=UUID={UUID} " in text
    assert "\tinitrd /@.snapshots/deploy/2-5/boot-real/initrd.img-6.1.0-10-amd64\n" in text
    assert "9.9.9-host" not in text and "Host OS" not in text
    assert "# snapshot 0: no kernel with an initramfs in /@.snapshots/rootfs/snapshot-0/boot" in text


def test_menu(tmp_path):
    grub = 'GRUB_TIMEOUT=0\nGRUB_TERMINAL="serial console"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64", grub=grub)
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64", grub='GRUB_CMDLINE_LINUX="old"\n')
    snap0 = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    broken = make_root(tmp_path / "s1")
    ctx = context(tmp_path, default, fallback, (snap0, broken))
    text = config.render(ctx, config.read_settings(default), ["# other systems"])
    assert text == f"""\
# Written by ash (ash-grub) from the snapshot tree at every deploy and rollback: do not edit.
# Settings come from /etc/default/grub of the deployed snapshot.
set timeout=0
set default=0
insmod part_msdos
insmod part_gpt
insmod btrfs
search --no-floppy --fs-uuid --set=root {UUID}
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console

menuentry 'Test OS 1, snapshot 2' --class gnu-linux --id ash-default {{
\tlinux /@.snapshots/deploy/2-5/boot/vmlinuz-6.1.0-10-amd64 root=UUID={UUID} rootflags=subvol=@.snapshots/deploy/2-5 ro console=ttyS0
\tinitrd /@.snapshots/deploy/2-5/boot/initrd.img-6.1.0-10-amd64
}}
menuentry 'Test OS 1, last booted deployment (snapshot 1)' --class gnu-linux --id ash-previous {{
\tlinux /@.snapshots/deploy/1-4/boot/vmlinuz-6.1.0-9-amd64 root=UUID={UUID} rootflags=subvol=@.snapshots/deploy/1-4 ro old
\tinitrd /@.snapshots/deploy/1-4/boot/initrd.img-6.1.0-9-amd64
}}
submenu 'Snapshots (read-only)' --id ash-snapshots {{
\tmenuentry 'snapshot 0 - snapshot 0'\\''s description' --class gnu-linux {{
\t\tlinux /@.snapshots/rootfs/snapshot-0/boot/vmlinuz-6.1.0-9-amd64 root=UUID={UUID} rootflags=subvol=@.snapshots/rootfs/snapshot-0 ro
\t\tinitrd /@.snapshots/rootfs/snapshot-0/boot/initrd.img-6.1.0-9-amd64
\t}}
\t# snapshot 1: no kernel with an initramfs in /@.snapshots/rootfs/snapshot-1/boot
}}
# other systems
"""


def test_quoting():
    assert config.quote("/@.snapshots/deploy/1-2/boot/vmlinuz-6.1") == "/@.snapshots/deploy/1-2/boot/vmlinuz-6.1"
    assert config.quote("it's $x") == "'it'\\''s $x'"


# os-prober, run in a chroot of the deployment. The deployment here is a busybox root whose
# /usr/bin/os-prober is a test double (this machine has no other operating system to find); what it
# reports is a real block device with a real filesystem, whose UUID blkid reads.
OS_PROBER_DOUBLE = "#!/bin/sh\necho '{device}:Other OS 11:Other:chain'\necho '/dev/nonexistent:Ghost:Ghost:chain'\n"


@pytest.fixture
def other_os(tmp_path, root_tools):
    """A loop device holding an ext2 filesystem: the "other system" os-prober finds."""
    root_tools("mkfs.ext2", "blkid")
    image = tmp_path / "other.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext2", "-q", "-F", image], check=True)
    loop = subprocess.run(["losetup", "--find", "--show", image], check=True, capture_output=True, text=True).stdout.strip()
    try:
        uuid = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", loop], check=True, capture_output=True, text=True).stdout.strip()
        yield loop, uuid
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)


def test_os_prober_entries(busybox_root, tmp_path, other_os):
    device, uuid = other_os
    root = tmp_path / "deployment"
    subprocess.run(["cp", "-a", busybox_root, root], check=True)
    make_root(root, "6.1.0-9-amd64", grub="GRUB_DISABLE_OS_PROBER=false\n")
    ctx = context(tmp_path, root)
    assert not osprober.wanted(ctx, config.read_settings(root)), "no os-prober installed"
    (root / "usr/bin/os-prober").write_text(OS_PROBER_DOUBLE.format(device=device))
    (root / "usr/bin/os-prober").chmod(0o755)
    assert osprober.wanted(ctx, config.read_settings(root))
    assert not osprober.wanted(ctx, {}), "os-prober runs only when asked for"
    assert osprober.entries(ctx) == [
        f"menuentry 'Other OS 11 (on {device})' --class other {{",
        "\tinsmod part_msdos", "\tinsmod part_gpt", "\tinsmod fat", "\tinsmod ntfs", "\tinsmod chain",
        f"\tsearch --no-floppy --fs-uuid --set=root {uuid}",
        "\tchainloader +1",
        "}",
        "# os-prober found Ghost on /dev/nonexistent, which ash-grub cannot boot",
    ]  # fmt: skip
