"""Installing GRUB onto a new system, with the GRUB of the system itself (run in a chroot of it).

GRUB's files live in the store, ``<store>/boot/grub`` (prefix ``/<store subvolume>/boot/grub``), so
they are shared by every deployment and the menu written at deploy is the one GRUB reads.

* BIOS: ``grub-install --target=i386-pc`` in a chroot of the deployment, with the store's ``boot``
  directory bound in and, of the machine's block devices, exactly the disk and the partition(s) of
  ash's filesystem (grub-probe finds the prefix through them; GRUB's boot code goes onto the disk).
* UEFI: ``grub-mkimage`` builds a removable-media ``BOOTX64.EFI`` with an embedded configuration that
  finds the filesystem by UUID, and mtools copy it to ``\\EFI\\BOOT\\`` of the EFI system partition,
  which is never mounted (this also works where the kernel cannot mount FAT). The fallback path needs
  no NVRAM boot entry, so no efibootmgr either.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ashcore.api import AshError, Bind, Chroot, DeployContext, Device, Firmware, in_root, run

from .osprober import own_devices

EFI_MODULES = (
    "part_gpt part_msdos btrfs fat search search_fs_uuid normal configfile linux echo test "
    "serial terminal efi_gop all_video gzio"
).split()
PLATFORMS = {Firmware.BIOS: "i386-pc", Firmware.UEFI: "x86_64-efi"}


def grub_dir(ctx: DeployContext) -> Path:
    return ctx.store / "boot/grub"


def install(ctx: DeployContext, disk: Path, firmware: str, esp: Path | None) -> None:
    platform = PLATFORMS.get(Firmware(firmware)) if firmware in tuple(Firmware) else None
    if platform is None:
        raise AshError(f"ash-grub installs GRUB for {' or '.join(PLATFORMS)}, not {firmware!r}")
    modules = f"usr/lib/grub/{platform}"
    if not in_root(ctx.deployment, modules).is_dir():
        package = {Firmware.BIOS: "grub-pc-bin", Firmware.UEFI: "grub-efi-amd64-bin"}[Firmware(firmware)]
        raise AshError(
            f"snapshot {ctx.snapshot} has no GRUB for {firmware.upper()} (/usr/lib/grub/{platform})",
            hint=f"include its package in the system (on Debian: {package})",
        )
    grub_dir(ctx).mkdir(parents=True, exist_ok=True)
    if firmware == Firmware.BIOS:
        disk = Path(os.path.realpath(disk))  # the name the chroot's /dev has it under
        devices = [
            Device(disk, readonly=False),
            *(Device(Path("/dev", name.replace("!", "/")), readonly=False) for name in sorted(own_devices(ctx))),
        ]
        # grub-probe finds the prefix (/<store subvolume>/boot/grub) from the filesystem, wherever it is mounted
        boot = Bind(ctx.store / "boot", "/run/ash-grub/boot", readonly=False)
        chroot = Chroot(root=ctx.deployment, snapshot=ctx.snapshot, binds=[boot], devices=devices)
        chroot.run(
            [
                "grub-install",
                "--target=i386-pc",
                "--boot-directory=/run/ash-grub/boot",
                "--modules=part_msdos btrfs",
                disk,
            ]
        )
        return
    if esp is None:
        raise AshError("GRUB for UEFI needs an EFI system partition")
    with tempfile.TemporaryDirectory(prefix="ash-grub-") as tmp:
        prefix = f"/{ctx.store_subvolume}/boot/grub"
        Path(tmp, "early.cfg").write_text(
            f"search --no-floppy --fs-uuid --set=root {ctx.fs_uuid}\n"
            f"set prefix=($root){prefix}\nconfigfile $prefix/grub.cfg\n"
        )
        chroot = Chroot(
            root=ctx.deployment, snapshot=ctx.snapshot, binds=[Bind(Path(tmp), "/run/ash-grub", readonly=False)]
        )
        chroot.run(
            [
                "grub-mkimage",
                "-O",
                platform,
                "-p",
                prefix,
                "-c",
                "/run/ash-grub/early.cfg",
                "-o",
                "/run/ash-grub/BOOTX64.EFI",
                *EFI_MODULES,
            ]
        )
        copy_from_root(ctx.deployment, modules, grub_dir(ctx) / platform)
        run(["mmd", "-D", "s", "-i", esp, "::/EFI", "::/EFI/BOOT"], capture=True)
        run(["mcopy", "-o", "-i", esp, Path(tmp, "BOOTX64.EFI"), "::/EFI/BOOT/BOOTX64.EFI"], capture=True)


def copy_from_root(root: Path, rel: str, dest: Path) -> None:
    """Copy the directory ``rel`` of ``root`` into ``dest``, its files' links followed as ``root`` sees
    them (within it: a link there never brings a host file along); links to directories are skipped."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(os.scandir(in_root(root, rel)), key=lambda e: e.name):
        sub = f"{rel}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            copy_from_root(root, sub, dest / entry.name)
        elif (real := in_root(root, sub)).is_file():
            shutil.copy2(real, dest / entry.name)
