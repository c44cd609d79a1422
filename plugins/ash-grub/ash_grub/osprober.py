"""Menu entries for the other systems on the machine (dual boot), found with ``os-prober``.

Used when the deployed snapshot sets ``GRUB_DISABLE_OS_PROBER=false`` and has os-prober installed,
as grub-mkconfig does. os-prober runs in a chroot of the deployment, whose sandbox has no disks and
may not mount anything. So it gets, explicitly, the partitions it is to probe and nothing else: every
partition of the machine with a filesystem (os-prober lists them from sysfs, and probes those its
``/dev`` has), but those of ash's own filesystem, each read-only (a read-only loop device under the
partition's name) and mounted read-only, where os-prober finds it mounted and looks into it instead of
mounting it itself. Filesystem types and UUIDs are read on the host with ``blkid``.

What the probers report comes from other disks and is written like text from a snapshot: names as
bounded titles, paths and UUIDs as exact words, kernel arguments split and quoted as a snapshot's
(:mod:`ash_grub.script`), each file of an initramfs of several (a microcode image, then the
initramfs) a word of its own; a system whose loader, kernel or arguments ash refuses is left out with
a comment and a warning. A ``root=`` naming a probed partition by its device becomes its UUID: the
kernel that boots the menu may name it otherwise (ash deploying onto a disk image sees a loop device).
An argument that is only a GRUB variable (``$vt_handoff``, which Ubuntu's menus set and use) is left
out: ash's menu does not set it, so GRUB would make it nothing, and refusing it would leave the
whole system out.
"""

from __future__ import annotations

import re
from pathlib import Path

from ashcore.api import Chroot, DeployContext, Device, in_root, run, warn

from .script import Refused, arguments, comment, menu_text, quote, title, word

PROBER_DIRS = ("usr/bin", "usr/sbin", "bin", "sbin")
#: What os-prober skips as no system of its own (and a RAID member is part of another device).
NOT_PROBED = {"swap", "crypto_LUKS", "LVM2_member", "linux_raid_member"}
#: os-prober would unshare a mount namespace of its own, which needs CAP_SYS_ADMIN; it has one.
ENV = {"OS_PROBER_NEWNS": "1"}
MOUNTS = "/run/ash-os-prober"
#: a kernel argument that is nothing but a GRUB variable (Ubuntu's menus end in ``$vt_handoff``)
_VARIABLE = re.compile(r"(?<!\S)\$(?:\{\w+\}|\w+)(?!\S)")


def wanted(ctx: DeployContext, settings: dict[str, str]) -> bool:
    return settings.get("GRUB_DISABLE_OS_PROBER") == "false" and any(_has(ctx, f"{d}/os-prober") for d in PROBER_DIRS)


def _has(ctx: DeployContext, rel: str) -> bool:
    """Whether the deployment has ``rel``, as it sees it (its links lead within it)."""
    try:
        return in_root(ctx.deployment, rel).exists()
    except OSError:
        return False


def uuid_of(device: str) -> str | None:
    return _probe(device, "UUID")


def _probe(device: str, tag: str) -> str | None:
    proc = run(["blkid", "--probe", "--match-tag", tag, "--output", "value", device], capture=True, check=False)
    return proc.stdout.strip() or None


def _title(name: str, device: str) -> str:
    return title(f"{menu_text(name, 40)} (on {menu_text(device, 40)})")


def _left_out(name: str, device: str, why: Refused) -> str:
    where = f"{menu_text(device, 40)} ({menu_text(name, 40)})"
    warn(f"the system os-prober found on {where} is left out of the boot menu: {why}")
    return comment(f"os-prober found {name} on {device}, left out: {why}")


def own_devices(ctx: DeployContext, sys: Path = Path("/sys")) -> set[str]:
    """The kernel's names of the block devices ash's filesystem is on, and of what they are made of
    (an encrypted container's partition)."""
    names = {p.name for p in (sys / "fs/btrfs" / ctx.fs_uuid / "devices").glob("*")} if ctx.fs_uuid else set()
    todo = list(names)
    while todo:
        for slave in (sys / "class/block" / todo.pop() / "slaves").glob("*"):
            if slave.name not in names:
                names.add(slave.name)
                todo.append(slave.name)
    return names


def partitions(ctx: DeployContext, sys: Path = Path("/sys")) -> list[Device]:
    """The partitions os-prober is to probe, as it finds them (``/sys/block/*/*[0-9]`` with a start
    and no ``whole_disk``), but ash's own and those that hold no system; each read-only and mounted."""
    own, found = own_devices(ctx, sys), []
    for part in sorted((sys / "block").glob("*/*[0-9]")):
        if not (part / "start").is_file() or (part / "whole_disk").exists() or part.name in own:
            continue
        device = Path("/dev", part.name.replace("!", "/"))
        kind = _probe(str(device), "TYPE") if device.exists() else None
        if kind is not None and kind not in NOT_PROBED:
            found.append(Device(device, readonly=True, mount=f"{MOUNTS}/{part.name}", fstype=kind))
    return found


def entries(ctx: DeployContext) -> list[str]:
    """GRUB lines for every system os-prober finds (``DEVICE:LONG NAME:LABEL:TYPE`` per line)."""
    probed = partitions(ctx)
    chroot = Chroot(root=ctx.deployment, snapshot=ctx.snapshot, env=dict(ENV), devices=probed)
    found = chroot.run(["os-prober"], capture=True, check=False).stdout or ""
    names = {str(d.path) for d in probed}
    lines = []
    for line in found.splitlines():
        fields = line.strip().split(":")
        if len(fields) < 4:
            continue
        device, long_name, label, kind = fields[0], fields[1] or fields[2], fields[2], fields[3]
        if kind == "linux":
            lines += _linux(chroot, device, long_name, names)
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
            "\tinsmod part_msdos",
            "\tinsmod part_gpt",
            "\tinsmod fat",
            "\tinsmod ntfs",
            "\tinsmod chain",
            f"\tsearch --no-floppy --fs-uuid --set=root {search}",
            f"\tchainloader {chain}",
            "}",
        ]
    return lines


def _root(arg: str, probed: set[str], initrd: bool) -> str:
    """A ``root=/dev/...`` argument naming a probed partition, as its UUID (``PARTUUID`` without an
    initramfs, which the kernel reads alone): the name is the one the kernel ash runs on gave the
    partition (a loop device's, when ash deploys onto a disk image), not the one it has when it boots."""
    device = arg.removeprefix("root=")
    if device == arg or device not in probed:
        return arg
    tag, probed_as = ("UUID", "UUID") if initrd else ("PARTUUID", "PART_ENTRY_UUID")  # blkid --probe's name
    found = _probe(device, probed_as)
    return f"root={tag}={found}" if found else arg


def _linux(chroot: Chroot, device: str, name: str, probed: set[str]) -> list[str]:
    """Entries for another Linux, from ``linux-boot-prober`` (``ROOT:BOOT:LABEL:KERNEL:INITRD:ARGS``;
    INITRD may be several files, separated by spaces, as a microcode image and the initramfs)."""
    found = chroot.run(["linux-boot-prober", device], capture=True, check=False).stdout or ""
    lines = []
    for line in found.splitlines():
        fields = line.strip().split(":", 5)
        if len(fields) < 6 or not (uuid := uuid_of(fields[1])):
            continue
        _, _, label, image, initrd, args = fields
        try:
            initrds = [word(w) for w in initrd.split()]
            args = _VARIABLE.sub("", args.replace("^", " "))  # unset in ash's menu: GRUB would give nothing
            kernel = [image, *(_root(a, probed, bool(initrds)) for a in arguments(args))]
            words, search, initrd = [word(w) for w in kernel], word(uuid), " ".join(initrds)
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
