"""``grub.cfg``, written whole from the tree's data; an existing file is never edited.

The menu: the default deployment first (GRUB's default entry), then the deployment booted before
("last booted deployment"), then a submenu with every snapshot of the tree, booted read-only from its
own subvolume. Each entry loads the newest kernel and initramfs found inside what it boots, by their
paths from the top of the btrfs filesystem (GRUB reads btrfs from ``subvolid=5``). Files in a root are
found as the root sees them (:func:`~ashcore.api.in_root`): a link there, absolute or not, leads
within that root and never to the host's files, and GRUB is given the path the link leads to.

Settings come from ``/etc/default/grub`` (and ``/etc/default/grub.d/*.cfg``), read as assignments
without running them. The deployed snapshot's shape the whole menu: ``GRUB_TIMEOUT``,
``GRUB_TIMEOUT_STYLE``, ``GRUB_TERMINAL``, ``GRUB_TERMINAL_INPUT``, ``GRUB_TERMINAL_OUTPUT``,
``GRUB_SERIAL_COMMAND`` and ``GRUB_DISABLE_OS_PROBER``, each checked for what it is (a number, a
style, terminal names, a ``serial`` command) and otherwise not used, with a warning. Every entry takes
``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT`` from the root it boots, as kernel arguments
(:func:`~ash_grub.script.arguments`), each written as one quoted word: a snapshot changes nothing but
its own entry's kernel command line, and a value that would be more than arguments is left out of
that entry, with a warning naming the snapshot and the setting; the entry still boots.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ashcore.api import BootTarget, DeployContext, in_root, read_os_release, warn

from .script import (
    CMDLINE_MAX,
    MAX_WORD,
    Refused,
    arguments,
    command_line_bytes,
    comment,
    menu_text,
    quote,
    title,
    unprintable,
    word,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_INITRDS = ("initrd.img-{}", "initramfs-{}.img", "initrd-{}", "initramfs-{}")


def read_settings(root: Path) -> dict[str, str]:
    """The variables ``/etc/default/grub`` and ``grub.d/*.cfg`` of ``root`` assign, in shell order.

    Only plain assignments are understood, each value as sh would give it (quotes removed, ``$VAR``
    expanded to an earlier value outside single quotes, words joined by one space); a line with a
    command substitution, an open quote or anything else a shell would have to run is ignored,
    never run. Bytes that are not UTF-8 stay in the values (as surrogates) for the checks to see.
    """
    settings: dict[str, str] = {}
    try:
        snippets = sorted(p.name for p in in_root(root, "etc/default/grub.d").glob("*.cfg"))
    except OSError:
        snippets = []
    for rel in ["etc/default/grub", *(f"etc/default/grub.d/{name}" for name in snippets)]:
        try:
            text = in_root(root, rel).read_text(errors="surrogateescape")
        except OSError:
            continue
        for line in text.split("\n"):  # the shell's lines: other line breaks are characters of a value
            key, sep, value = line.strip(" \t\r").removeprefix("export ").partition("=")
            if not sep or not _NAME.fullmatch(key) or "`" in value or "$(" in value:
                continue
            found = _shell_value(value, settings)
            if found is not None:
                settings[key] = found
    return settings


def _shell_value(value: str, settings: dict[str, str]) -> str | None:
    """The right side of an assignment as sh gives it, or None if it is not a plain value."""
    words: list[str] = []
    current: str | None = None
    i = 0

    def expand(at: int) -> tuple[str, int]:
        m = _VAR.match(value, at)
        return (settings.get(m.group(1) or m.group(2), ""), m.end()) if m else ("$", at + 1)

    while i < len(value):
        c = value[i]
        if c in " \t":
            if current is not None:
                words.append(current)
            current, i = None, i + 1
        elif c == "#" and current is None:
            break
        elif c == "'":
            end = value.find("'", i + 1)
            if end < 0:
                return None
            current, i = (current or "") + value[i + 1 : end], end + 1
        elif c == '"':
            current, i = (current or ""), i + 1
            while i < len(value) and value[i] != '"':
                if value[i] == "\\" and value[i + 1 : i + 2] in ("$", "`", '"', "\\"):
                    current, i = current + value[i + 1], i + 2
                elif value[i] == "$":
                    text, i = expand(i)
                    current += text
                else:
                    current, i = current + value[i], i + 1
            if i == len(value):
                return None
            i += 1
        elif c == "\\":
            if i + 1 == len(value):
                return None  # a continued line: not understood
            current, i = (current or "") + value[i + 1], i + 2
        elif c == "$":
            text, i = expand(i)
            current = (current or "") + text
        else:
            current, i = (current or "") + c, i + 1
    if current is not None:
        words.append(current)
    return " ".join(words).strip()


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


Say = Callable[[str], None]


def linux_entry(
    text: str,
    target: BootTarget,
    fs_uuid: str,
    cmdline: dict[str, list[str]],
    entry_id: str | None = None,
    say: Say = warn,
) -> list[str]:
    """A menu entry titled ``text`` booting ``target`` (its root is mounted from its own subvolume)
    with the kernel arguments of ``cmdline`` (:func:`kernel_args`), or a comment saying why there is
    none."""
    found = kernel(target.root)
    if found is None:
        return [comment(f"snapshot {target.snapshot}: no kernel with an initramfs in /{target.subvolume}/boot")]
    image, initrd = (f"/{target.subvolume}/{rel}" for rel in found)
    base = [f"root=UUID={fs_uuid}", f"rootflags=subvol={target.subvolume}", "ro"]
    args = [arg for words in cmdline.values() for arg in words]
    if command_line_bytes(image, base + args) > CMDLINE_MAX:
        keys = ", ".join(key for key, words in cmdline.items() if words)
        say(
            f"snapshot {target.snapshot}: its kernel arguments ({keys}) are left out of its menu entry: "
            f"the command line would be longer than the {CMDLINE_MAX} bytes a kernel takes"
        )
        args = []
    try:
        linux = " ".join(word(w) for w in [image, *base, *args])
        initrd = word(initrd)
    except Refused as why:
        say(f"snapshot {target.snapshot} is left out of the boot menu: the path of its kernel or subvolume: {why}")
        return [comment(f"snapshot {target.snapshot}: left out, the path of its kernel or subvolume: {why}")]
    return [
        f"menuentry {title(text)} --class gnu-linux{f' --id {entry_id}' if entry_id else ''} {{",
        f"\tlinux {linux}",
        f"\tinitrd {initrd}",
        "}",
    ]


CMDLINE_KEYS = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")


def kernel_args(target: BootTarget, say: Say = warn) -> dict[str, list[str]]:
    """The kernel arguments ``target``'s own settings give its entry, by setting; a setting ash
    refuses (:func:`~ash_grub.script.arguments`) gives none, and ``say`` says why."""
    settings = read_settings(target.root)
    found = {}
    for key in CMDLINE_KEYS:
        try:
            found[key] = arguments(settings.get(key, ""))
            if command_line_bytes("", found[key]) > CMDLINE_MAX:
                del found[key]
                raise Refused(f"it is longer than the {CMDLINE_MAX} bytes of a kernel command line")
        except Refused as why:
            say(f"snapshot {target.snapshot}: {key} is left out of its menu entry: {why}")
    return found


_TIMEOUT = re.compile(r"-1|\d{1,5}")
_STYLES = ("menu", "countdown", "hidden")
_TERMINAL = re.compile(r"[a-z][a-z0-9_]{0,31}")


def header(settings: dict[str, str], snapshot: int, say: Say = warn) -> list[str]:
    """The commands the deployed snapshot's ``settings`` put before the entries: each setting as
    what it is, or not used (ash's default instead) with a warning through ``say``."""

    def refuse(key: str, why: str) -> None:
        say(f"snapshot {snapshot} (deployed): {key} is not used: {why}")

    timeout = settings.get("GRUB_TIMEOUT", "5")
    if not _TIMEOUT.fullmatch(timeout):
        refuse("GRUB_TIMEOUT", "it is not a number of seconds (at most 99999, or -1 to wait); the menu waits 5 s")
        timeout = "5"
    lines = [f"set timeout={timeout}"]
    style = settings.get("GRUB_TIMEOUT_STYLE")
    if style in _STYLES:
        lines.append(f"set timeout_style={style}")
    elif style:
        refuse("GRUB_TIMEOUT_STYLE", f"it is none of {', '.join(_STYLES)}")
    return lines


def _terminals(settings: dict[str, str], key: str, snapshot: int, say: Say) -> list[str] | None:
    value = settings.get(key)
    if value is None:
        return None
    names = value.split()
    if len(names) > 8 or not all(_TERMINAL.fullmatch(n) for n in names):
        say(f"snapshot {snapshot} (deployed): {key} is not used: it is not a list of terminal names")
        return None
    return names


def _terminal(settings: dict[str, str], snapshot: int, say: Say = warn) -> list[str]:
    both = _terminals(settings, "GRUB_TERMINAL", snapshot, say) or []
    inputs = _terminals(settings, "GRUB_TERMINAL_INPUT", snapshot, say)
    outputs = _terminals(settings, "GRUB_TERMINAL_OUTPUT", snapshot, say)
    inputs, outputs = both if inputs is None else inputs, both if outputs is None else outputs
    serial = ["serial"]
    try:
        serial = arguments(settings.get("GRUB_SERIAL_COMMAND", "serial"))
        if serial[:1] != ["serial"]:
            raise Refused("it is not a 'serial' command")
    except Refused as why:
        say(f"snapshot {snapshot} (deployed): GRUB_SERIAL_COMMAND is not used: {why}")
        serial = ["serial"]
    lines = [" ".join(quote(w) for w in serial)] if "serial" in inputs + outputs else []
    if inputs:
        lines.append(f"terminal_input {' '.join(inputs)}")
    if outputs:
        lines.append(f"terminal_output {' '.join(outputs)}")
    return lines


def render(ctx: DeployContext, settings: dict[str, str], extra: Sequence[str] = ()) -> str:
    """The whole ``grub.cfg`` for ``ctx`` with the deployed snapshot's ``settings``; ``extra`` lines
    (other systems' entries) go last."""
    assert ctx.default is not None
    release = read_os_release(ctx.default.root)
    name = menu_text(release.get("PRETTY_NAME") or release.get("NAME") or "").lstrip("- ") or "Linux"
    said: set[str] = set()

    def say(message: str) -> None:  # once each: a deployment and its snapshot have the same settings
        if message not in said:
            said.add(message)
            warn(message)

    lines = [
        "# Written by ash (ash-grub) from the snapshot tree at every deploy and rollback: do not edit.",
        "# Settings come from /etc/default/grub of the deployed snapshot.",
        *header(settings, ctx.default.snapshot, say),
        "set default=0",
        "insmod part_msdos",
        "insmod part_gpt",
        "insmod btrfs",
        f"search --no-floppy --fs-uuid --set=root {quote(ctx.fs_uuid)}",
        *_terminal(settings, ctx.default.snapshot, say),
        "",
        *linux_entry(
            f"{name}, snapshot {ctx.default.snapshot}",
            ctx.default,
            ctx.fs_uuid,
            kernel_args(ctx.default, say),
            "ash-default",
            say,
        ),
    ]
    if ctx.fallback is not None:
        text = f"{name}, last booted deployment (snapshot {ctx.fallback.snapshot})"
        lines += linux_entry(text, ctx.fallback, ctx.fs_uuid, kernel_args(ctx.fallback, say), "ash-previous", say)
    submenu = []
    for snap in ctx.snapshots:
        shown = menu_text(snap.description)
        text = f"snapshot {snap.snapshot}" + (f" - {shown}" if shown else "")
        submenu += ["\t" + line for line in linux_entry(text, snap, ctx.fs_uuid, kernel_args(snap, say), say=say)]
    if any(line.startswith("\tmenuentry ") for line in submenu):  # GRUB refuses an empty block
        lines += ["submenu 'Snapshots (read-only)' --id ash-snapshots {", *submenu, "}"]
    else:
        lines += submenu
    lines += extra
    return "\n".join(lines) + "\n"
