"""``grub.cfg``, written whole from the tree's data; an existing file is never edited.

The menu: the default deployment first (GRUB's default entry), then the deployment booted before
("last booted deployment"), then a submenu with every snapshot of the tree, booted read-only from its
own subvolume. Each entry loads the newest kernel and initramfs found inside what it boots, by their
paths from the top of the btrfs filesystem (GRUB reads btrfs from ``subvolid=5``). Files in a root are
found as the root sees them (:func:`~ashcore.api.in_root`): a link there, absolute or not, leads
within that root and never to the host's files, and GRUB is given the path the link leads to.

Settings come from ``/etc/default/grub`` (and ``/etc/default/grub.d/*.cfg``) of the deployed
snapshot, read as assignments without running them: ``GRUB_TIMEOUT``, ``GRUB_TIMEOUT_STYLE``,
``GRUB_CMDLINE_LINUX``, ``GRUB_CMDLINE_LINUX_DEFAULT``, ``GRUB_TERMINAL``, ``GRUB_TERMINAL_INPUT``,
``GRUB_TERMINAL_OUTPUT``, ``GRUB_SERIAL_COMMAND`` and ``GRUB_DISABLE_OS_PROBER``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from ashcore.api import BootTarget, DeployContext, in_root, read_os_release, warn

from .script import MAX_WORD, Refused, comment, menu_text, quote, title, unprintable, word

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_INITRDS = ("initrd.img-{}", "initramfs-{}.img", "initrd-{}", "initramfs-{}")


def read_settings(root: Path) -> dict[str, str]:
    """The variables ``/etc/default/grub`` and ``grub.d/*.cfg`` of ``root`` assign, in shell order.

    Only plain assignments are understood (``$VAR`` expands to an earlier value); command
    substitutions and anything else a shell would do are ignored, never run.
    """
    settings: dict[str, str] = {}
    try:
        snippets = sorted(p.name for p in in_root(root, "etc/default/grub.d").glob("*.cfg"))
    except OSError:
        snippets = []
    for rel in ["etc/default/grub", *(f"etc/default/grub.d/{name}" for name in snippets)]:
        try:
            text = in_root(root, rel).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if not sep or not _NAME.fullmatch(key) or "`" in value or "$(" in value:
                continue
            try:
                words = shlex.split(value, comments=True)
            except ValueError:
                continue
            settings[key] = _VAR.sub(lambda m: settings.get(m.group(1) or m.group(2), ""), " ".join(words)).strip()
    return settings


def version_key(version: str) -> list[tuple[int, str]]:
    """Sort key for kernel versions: numbers compare as numbers (6.10 after 6.9)."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.findall(r"\d+|\D+", version)]


def _file(root: Path, rel: str) -> str | None:
    """Where the file ``rel`` of ``root`` really is, as a path relative to ``root`` (links followed
    within ``root``, as the root sees them), or None if it is not a file there."""
    try:
        path = in_root(root, rel)
    except OSError:  # a link loop
        return None
    return path.relative_to(root).as_posix() if path.is_file() else None


def kernel(root: Path) -> tuple[str, str] | None:
    """The newest kernel in ``/boot`` of ``root`` that has an initramfs, as (kernel, initramfs) paths
    relative to ``root``: where the files are, after links (``/boot`` itself, too) are followed within
    ``root``, since GRUB reads the filesystem and does not follow the root's links the root's way.
    A kernel whose path GRUB could not be given exactly (a control character in its name) is none."""
    try:
        names = [p.name for p in in_root(root, "boot").glob("vmlinuz-*")]
    except OSError:
        return None
    found = []
    for name in names:
        version = name.removeprefix("vmlinuz-")
        image = _file(root, f"boot/{name}")
        initrd = next(filter(None, (_file(root, f"boot/{n.format(version)}") for n in _INITRDS)), None)
        if image and initrd and all(not unprintable(p) and len(p.encode()) < MAX_WORD // 2 for p in (image, initrd)):
            found.append((version_key(version), image, initrd))
    return max(found)[1:] if found else None


def linux_entry(text: str, target: BootTarget, fs_uuid: str, cmdline: str, entry_id: str | None = None) -> list[str]:
    """A menu entry titled ``text`` booting ``target`` (its root is mounted from its own subvolume),
    or a comment saying why there is none."""
    found = kernel(target.root)
    if found is None:
        return [comment(f"snapshot {target.snapshot}: no kernel with an initramfs in /{target.subvolume}/boot")]
    try:
        image, initrd = (word(f"/{target.subvolume}/{rel}") for rel in found)
        args = [word(f"root=UUID={fs_uuid}"), word(f"rootflags=subvol={target.subvolume}"), "ro"]
    except Refused as why:
        warn(f"snapshot {target.snapshot} is left out of the boot menu: the path of its kernel or subvolume {why}")
        return [comment(f"snapshot {target.snapshot}: left out, the path of its kernel or subvolume {why}")]
    return [
        f"menuentry {title(text)} --class gnu-linux{f' --id {entry_id}' if entry_id else ''} {{",
        f"\tlinux {image} {' '.join(args)} {cmdline}".rstrip(),
        f"\tinitrd {initrd}",
        "}",
    ]


def cmdline(root: Path) -> str:
    settings = read_settings(root)
    return " ".join(filter(None, (settings.get("GRUB_CMDLINE_LINUX"), settings.get("GRUB_CMDLINE_LINUX_DEFAULT"))))


def _terminal(settings: dict[str, str]) -> list[str]:
    both = settings.get("GRUB_TERMINAL", "")
    inputs, outputs = settings.get("GRUB_TERMINAL_INPUT", both), settings.get("GRUB_TERMINAL_OUTPUT", both)
    lines = []
    if "serial" in f"{inputs} {outputs}".split():
        lines.append(settings.get("GRUB_SERIAL_COMMAND", "serial"))
    if inputs:
        lines.append(f"terminal_input {inputs}")
    if outputs:
        lines.append(f"terminal_output {outputs}")
    return lines


def render(ctx: DeployContext, settings: dict[str, str], extra: Sequence[str] = ()) -> str:
    """The whole ``grub.cfg`` for ``ctx`` with the deployed snapshot's ``settings``; ``extra`` lines
    (other systems' entries) go last."""
    assert ctx.default is not None
    release = read_os_release(ctx.default.root)
    name = menu_text(release.get("PRETTY_NAME") or release.get("NAME") or "").lstrip("- ") or "Linux"
    lines = [
        "# Written by ash (ash-grub) from the snapshot tree at every deploy and rollback: do not edit.",
        "# Settings come from /etc/default/grub of the deployed snapshot.",
        f"set timeout={settings.get('GRUB_TIMEOUT', '5')}",
        *([f"set timeout_style={settings['GRUB_TIMEOUT_STYLE']}"] if settings.get("GRUB_TIMEOUT_STYLE") else []),
        "set default=0",
        "insmod part_msdos",
        "insmod part_gpt",
        "insmod btrfs",
        f"search --no-floppy --fs-uuid --set=root {quote(ctx.fs_uuid)}",
        *_terminal(settings),
        "",
        *linux_entry(f"{name}, snapshot {ctx.default.snapshot}", ctx.default, ctx.fs_uuid, cmdline(ctx.default.root), "ash-default"),
    ]
    if ctx.fallback is not None:
        text = f"{name}, last booted deployment (snapshot {ctx.fallback.snapshot})"
        lines += linux_entry(text, ctx.fallback, ctx.fs_uuid, cmdline(ctx.fallback.root), "ash-previous")
    submenu = []
    for snap in ctx.snapshots:
        shown = menu_text(snap.description)
        text = f"snapshot {snap.snapshot}" + (f" - {shown}" if shown else "")
        submenu += ["\t" + line for line in linux_entry(text, snap, ctx.fs_uuid, cmdline(snap.root))]
    if any(line.startswith("\tmenuentry ") for line in submenu):  # GRUB refuses an empty block
        lines += ["submenu 'Snapshots (read-only)' --id ash-snapshots {", *submenu, "}"]
    else:
        lines += submenu
    lines += extra
    return "\n".join(lines) + "\n"
