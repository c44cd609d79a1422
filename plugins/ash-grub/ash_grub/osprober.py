"""Menu entries for the other systems on the machine (dual boot), found with ``os-prober``.

Used when the deployed snapshot sets ``GRUB_DISABLE_OS_PROBER=false`` and has os-prober installed,
as grub-mkconfig does. os-prober runs in a chroot of the deployment (it mounts what it probes, and
those mounts live only in that chroot's private namespace); filesystem UUIDs are read with ``blkid``.
What the probers report comes from other disks and is written like text from a snapshot: names as
bounded titles, paths and UUIDs as exact words, kernel arguments split and quoted as a snapshot's
(:mod:`ash_grub.script`); a system whose loader, kernel or arguments ash refuses is left out with a
comment and a warning.
"""

from __future__ import annotations

import re

from ashcore.api import Chroot, DeployContext, in_root, run, warn

from .script import Refused, arguments, comment, menu_text, quote, title, word

PROBER_DIRS = ("usr/bin", "usr/sbin", "bin", "sbin")


def wanted(ctx: DeployContext, settings: dict[str, str]) -> bool:
    return settings.get("GRUB_DISABLE_OS_PROBER") == "false" and any(_has(ctx, f"{d}/os-prober") for d in PROBER_DIRS)


def _has(ctx: DeployContext, rel: str) -> bool:
    """Whether the deployment has ``rel``, as it sees it (its links lead within it)."""
    try:
        return in_root(ctx.deployment, rel).exists()
    except OSError:
        return False


def uuid_of(device: str) -> str | None:
    proc = run(["blkid", "--probe", "--match-tag", "UUID", "--output", "value", device], capture=True, check=False)
    return proc.stdout.strip() or None


def _title(name: str, device: str) -> str:
    return title(f"{menu_text(name, 40)} (on {menu_text(device, 40)})")


def _left_out(name: str, device: str, why: Refused) -> str:
    warn(
        f"the system os-prober found on {menu_text(device, 40)} ({menu_text(name, 40)}) is left out of the boot menu: {why}"
    )
    return comment(f"os-prober found {name} on {device}, left out: {why}")


def entries(ctx: DeployContext) -> list[str]:
    """GRUB lines for every system os-prober finds (``DEVICE:LONG NAME:LABEL:TYPE`` per line)."""
    chroot = Chroot(root=ctx.deployment, snapshot=ctx.snapshot)
    found = chroot.run(["os-prober"], capture=True, check=False).stdout or ""
    lines = []
    for line in found.splitlines():
        fields = line.strip().split(":")
        if len(fields) < 4:
            continue
        device, long_name, label, kind = fields[0], fields[1] or fields[2], fields[2], fields[3]
        if kind == "linux":
            lines += _linux(chroot, device, long_name)
            continue
        device, _, loader = device.partition("@")  # efi: /dev/sda1@/EFI/Microsoft/Boot/bootmgfw.efi
        uuid = uuid_of(device)
        if uuid is None or kind not in ("chain", "efi"):
            lines.append(comment(f"os-prober found {label} on {device}, which ash-grub cannot boot"))
            continue
        try:
            search, chain = word(uuid), word(loader) if loader else "+1"
        except Refused as why:
            lines.append(_left_out(long_name, device, Refused(f"its loader or UUID: {why}")))
            continue
        kind_class = re.sub(r"[^a-z0-9_-]", "", label.lower())[:32] or "other"
        lines += [
            f"menuentry {_title(long_name, device)} --class {quote(kind_class)} {{",
            "\tinsmod part_msdos", "\tinsmod part_gpt", "\tinsmod fat", "\tinsmod ntfs", "\tinsmod chain",
            f"\tsearch --no-floppy --fs-uuid --set=root {search}",
            f"\tchainloader {chain}",
            "}",
        ]  # fmt: skip
    return lines


def _linux(chroot: Chroot, device: str, name: str) -> list[str]:
    """Entries for another Linux, from ``linux-boot-prober`` (``ROOT:BOOT:LABEL:KERNEL:INITRD:ARGS``)."""
    found = chroot.run(["linux-boot-prober", device], capture=True, check=False).stdout or ""
    lines = []
    for line in found.splitlines():
        fields = line.strip().split(":", 5)
        if len(fields) < 6 or not (uuid := uuid_of(fields[1])):
            continue
        _, _, label, image, initrd, args = fields
        try:
            words = [word(w) for w in [image, *arguments(args.replace("^", " "))]]
            search, initrd = word(uuid), word(initrd) if initrd else ""
        except Refused as why:
            lines.append(_left_out(label or name, device, Refused(f"its kernel, initramfs or arguments: {why}")))
            continue
        lines += [
            f"menuentry {_title(label or name, device)} --class gnu-linux {{",
            f"\tsearch --no-floppy --fs-uuid --set=root {search}",
            f"\tlinux {' '.join(words)}",
            *([f"\tinitrd {initrd}"] if initrd else []),
            "}",
        ]
    return lines
