"""grub.cfg from the tree's data: /etc/default/grub parsing, kernel choice, the menu, os-prober entries; a menu
GRUB can always read whatever snapshots hold (hostile text and settings, the checks before writing), also
through the real CLI."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest
from ash_grub import config, osprober, plugin, script, verify
from ash_testing.cli import Ash
from ash_testing.grub import UUID, context, entry, grub_commands, grub_script_check, make_root, without

from ashcore.api import AshError, BootTarget, DeployContext


def test_settings_are_read_not_run(tmp_path):
    root = make_root(
        tmp_path / "r",
        grub="""\
# comment
GRUB_DEFAULT=0
GRUB_TIMEOUT=2
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"
GRUB_CMDLINE_LINUX='console=ttyS0,115200'
export GRUB_TERMINAL="serial console"
BROKEN="unterminated
""",
    )
    (root / "etc/default/grub.d").mkdir()
    (root / "etc/default/grub.d/50-more.cfg").write_text(
        'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX panic=10"\nX=$(touch /pwned)\n'
    )
    assert config.read_settings(root) == {
        "GRUB_DEFAULT": "0",
        "GRUB_TIMEOUT": "2",
        "GRUB_CMDLINE_LINUX_DEFAULT": "quiet splash",
        "GRUB_CMDLINE_LINUX": "console=ttyS0,115200 panic=10",
        "GRUB_TERMINAL": "serial console",
    }
    assert config.kernel_args(BootTarget(0, root, "@.snapshots/rootfs/snapshot-0", "")) == {
        "GRUB_CMDLINE_LINUX": ["console=ttyS0,115200", "panic=10"],
        "GRUB_CMDLINE_LINUX_DEFAULT": ["quiet", "splash"],
    }


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
    grub = (
        'GRUB_TIMEOUT=0\nGRUB_TERMINAL="serial console"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
        'GRUB_CMDLINE_LINUX="console=ttyS0"\n'
    )
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64", grub=grub)
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64", grub='GRUB_CMDLINE_LINUX="old"\n')
    snap0 = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    broken = make_root(tmp_path / "s1")
    ctx = context(tmp_path, default, fallback, (snap0, broken))
    text = config.render(ctx, config.read_settings(default), ["# other systems"])
    assert (
        text
        == f"""\
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
\tlinux /@.snapshots/deploy/2-5/boot/vmlinuz-6.1.0-10-amd64 root=UUID={UUID} \
rootflags=subvol=@.snapshots/deploy/2-5 ro console=ttyS0
\tinitrd /@.snapshots/deploy/2-5/boot/initrd.img-6.1.0-10-amd64
}}
menuentry 'Test OS 1, last booted deployment (snapshot 1)' --class gnu-linux --id ash-previous {{
\tlinux /@.snapshots/deploy/1-4/boot/vmlinuz-6.1.0-9-amd64 root=UUID={UUID} \
rootflags=subvol=@.snapshots/deploy/1-4 ro old
\tinitrd /@.snapshots/deploy/1-4/boot/initrd.img-6.1.0-9-amd64
}}
submenu 'Snapshots (read-only)' --id ash-snapshots {{
\tmenuentry 'snapshot 0 - snapshot 0'\\''s description' --class gnu-linux {{
\t\tlinux /@.snapshots/rootfs/snapshot-0/boot/vmlinuz-6.1.0-9-amd64 root=UUID={UUID} \
rootflags=subvol=@.snapshots/rootfs/snapshot-0 ro
\t\tinitrd /@.snapshots/rootfs/snapshot-0/boot/initrd.img-6.1.0-9-amd64
\t}}
\t# snapshot 1: no kernel with an initramfs in /@.snapshots/rootfs/snapshot-1/boot
}}
# other systems
"""
    )


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
    loop = subprocess.run(
        ["losetup", "--find", "--show", image], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        uuid = subprocess.run(
            ["blkid", "-p", "-s", "UUID", "-o", "value", loop], check=True, capture_output=True, text=True
        ).stdout.strip()
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
        "\tinsmod part_msdos",
        "\tinsmod part_gpt",
        "\tinsmod fat",
        "\tinsmod ntfs",
        "\tinsmod chain",
        f"\tsearch --no-floppy --fs-uuid --set=root {uuid}",
        "\tchainloader +1",
        "}",
        "# os-prober found Ghost on /dev/nonexistent, which ash-grub cannot boot",
    ]


# -- a menu GRUB can always read, whatever a snapshot holds ----------------------------------------
#
# (a menu is read back by grub-script-check and grub_commands(): see ash_testing.grub)


def test_grub_commands_reads_what_grub_runs():
    """The test's reading of GRUB agrees with GRUB on what a line holds."""
    assert grub_commands(
        "set timeout=1 # a comment\nmenuentry 'a b'\\''c' --id x {\n\tlinux /k \"q\\\"r\" $v;x\n}\n"
    ) == [
        (["set", "timeout=1"], None),
        (["menuentry", "a b'c", "--id", "x"], [(["linux", "/k", 'q"r', "<$v>"], None), (["x"], None)]),
    ]


#: Text a snapshot's description (or name) may hold: GRUB syntax, line breaks, control characters,
#: terminal escapes, huge texts and what is not UTF-8 (as ``ash desc`` stores it from a byte argv).
HOSTILE_TEXT = {
    "quote": "it's",
    "quotes": "'\\'''\"\"",
    "variables": "$root ${prefix} $1 $? $#",
    "substitution": "$(reboot) `reboot`",
    "separator": "a; set timeout=99",
    "braces": "} set timeout=99 {",
    "closing": "'}\n}\n}\nset timeout=99\nsubmenu x {\nmenuentry y {",
    "operators": "a | b && c > /d < /e &",
    "newlines": "first line\nset timeout=99\nlast line",
    "blank first line": "\n\n   \nafter blank lines",
    "crlf": "windows line\r\nsecond",
    "tab": "tab\there",
    "nul": "nul\x00here",
    "terminal escapes": "\x1b[2J\x1b[31mred\x1b]0;title\x07\x1bc\x9b2J",
    "bidi override": "\u202eevil\u202c",
    "line separator": "one\u2028two\x85three",
    "backslash": "back\\slash\\",
    "comment": "# not a comment",
    "test brackets": "[[ ]]",
    "options": "--id=ash-default --unrestricted",
    "long": "x" * 10_000,
    "long one word per line": "a\n" * 5_000,
    "long quotes": "'" * 10_000,
    "long multibyte": "é日\U0001f600" * 3_000,
    "not UTF-8": "caf\udce9 \udcff\udcfe",
    "empty": "",
    "spaces": "   ",
}


def hostile_menu(tmp_path: Path, **descriptions: str) -> str:
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64", grub="GRUB_TIMEOUT=3\n")
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64")
    snap0 = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    snap1 = make_root(tmp_path / "s1", "6.1.0-9-amd64")
    ctx = context(tmp_path, default, fallback, (snap0, snap1), {int(k[1:]): v for k, v in descriptions.items()})
    return config.render(ctx, config.read_settings(default))


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_a_description_is_shown_bounded_on_one_line(tmp_path, text):
    """Whatever a description holds, GRUB reads the menu, and the description changes nothing but
    its own snapshot's title, which is one line of printable text of bounded length."""
    (tmp_path / "benign").mkdir()
    (tmp_path / "hostile").mkdir()
    benign = hostile_menu(tmp_path / "benign", s0="a description")
    menu = hostile_menu(tmp_path / "hostile", s0=text)
    grub_script_check(menu)
    assert all(line.replace("\t", "").isprintable() for line in menu.splitlines())
    before, after = benign.replace("benign", "hostile").splitlines(), menu.splitlines()
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0] == "\tmenuentry 'snapshot 0 - a description' --class gnu-linux {"
    title = entry(grub_commands(menu), "snapshot 0")[0][1]
    shown = title.removeprefix("snapshot 0 - ")
    assert shown.isprintable() and len(shown) <= 64 and shown == shown.strip()
    assert title.startswith("snapshot 0 - ") or (title == "snapshot 0" and not text.strip())


@pytest.mark.parametrize(
    "name", ["x' ; set timeout=99 ; '", "--id=ash-other", "-", "line\\nbreak ${x}", "N" * 10_000, "\x1b[2J\x1b[5mOS"]
)
def test_a_distributions_name_is_shown_bounded(tmp_path, name):
    """The name in a deployment's os-release is text from inside a snapshot too; GRUB would read a
    title that starts with '-' as an option of menuentry, so none does."""
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64", os_release=f'PRETTY_NAME="{quoted}"\n')
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64", os_release=f'PRETTY_NAME="{quoted}"\n')
    menu = config.render(context(tmp_path, default, fallback), {})
    grub_script_check(menu)
    titles = [words[1] for words, block in grub_commands(menu) if block is not None and words[0] == "menuentry"]
    assert (
        len(titles) == 2
        and titles[0].endswith(", snapshot 2")
        and titles[1].endswith(", last booted deployment (snapshot 1)")
    )
    assert all(t.isprintable() and not t.startswith("-") and len(t) < 110 for t in titles)
    assert [words for words, _ in grub_commands(menu)][:3] == [
        ["set", "timeout=5"],
        ["set", "default=0"],
        ["insmod", "part_msdos"],
    ]


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_a_word_is_read_back_as_written_or_refused(text):
    """script.word gives GRUB the text exactly, as one word, or refuses it (a character GRUB cannot
    take: NUL ends its line, a newline its command in a kernel argument; or too long)."""
    try:
        quoted = script.word(text)
    except script.Refused as why:
        assert not text or not text.isprintable() or len(text.encode()) > 1000, why
        assert len(str(why).splitlines()) == 1
        return
    menu = f"menuentry x {{\n\tlinux /vmlinuz {quoted} ro\n}}\n"
    grub_script_check(menu)
    assert grub_commands(menu) == [(["menuentry", "x"], [(["linux", "/vmlinuz", text, "ro"], None)])]


def test_what_the_menu_shows_of_a_text():
    shown = script.menu_text
    assert shown("first line\nset timeout=99\nlast line") == "first line"
    assert shown("\n\n   \nafter blank lines") == "after blank lines"
    assert shown("  tab\there  and\u00a0there ") == "tab here and there"
    assert shown("\x1b[2J\x1b[31mred\x07") == "?[2J?[31mred?"
    assert shown("\u202eevil\u202c") == "?evil?"
    assert shown("caf\udce9") == "caf?"
    assert shown("x" * 10_000) == "x" * 61 + "..."
    assert shown("é日" * 100) == ("é日" * 31)[:61] + "..."
    assert shown("a" * 64) == "a" * 64 and shown("") == "" and shown(" \n ") == ""
    assert script.title("--id=x") == "id=x" and script.title("-") == "'?'" and script.title("it's") == "'it'\\''s'"
    assert script.comment("a\nb") == "# a" and len(script.comment("x" * 10_000)) < 600


# -- what a snapshot's /etc/default/grub can do: only its own entry's kernel arguments --------------

#: GRUB_CMDLINE_LINUX values (as the shell gives them; the file quotes them), and the kernel
#: arguments they are, or None where ash refuses them. A value is split as GRUB splits it in the
#: ``linux`` line grub-mkconfig writes it into (quotes removed); what would be more than arguments
#: to GRUB (a command separator, a block, a variable, a comment, an open quote) or has a character a
#: menu cannot hold is refused. The kernel gets every argument as one word, whatever it holds.
KERNEL_ARGS = {
    "plain": ("quiet splash", ["quiet", "splash"]),
    "quoted value": ('acpi_osi="!Windows 2015" quiet', ["acpi_osi=!Windows 2015", "quiet"]),
    "single-quoted syntax": ("x='a;b}{ $y' z", ["x=a;b}{ $y", "z"]),
    "escapes": ('a\\ b c\\;d "e\\"f\\$g\\\\h"', ["a b", "c;d", 'e"f$g\\h']),
    "globs and brackets": ("x=* y=? [[ ]]", ["x=*", "y=?", "[[", "]]"]),
    "not ASCII": ("lang=é日", ["lang=é日"]),
    "empty quotes": ("'' quiet", ["quiet"]),
    "commands": ("quiet ; } ; } ; set timeout=99 ; submenu x { menuentry y { true", None),
    "separator": ("quiet; set default=1", None),
    "closing brace": ("quiet } set timeout=99", None),
    "brace in a word": ("a}b", None),
    "opening brace": ("{", None),
    "pipe": ("x | y", None),
    "and": ("x && set timeout=99", None),
    "redirect": ("x > y", None),
    "variable": ("root=$root", None),
    "special variable": ("$?", None),
    "variable in double quotes": ('"x=${prefix}"', None),
    "comment": ("quiet #rest", None),
    "open quote": ('console=ttyS0 "unterminated', None),
    "open single quote": ("console='ttyS0", None),
    "trailing backslash": ("quiet\\", None),
    "escape sequence": ("quiet \x1b[2J", None),
    "nul": ("a\x00b", None),
    "delete": ("a\x7fb", None),
    "bidi override": ("a\u202eb", None),
    "not UTF-8": ("caf\udce9", None),
    "too long": ("x" * 3000, None),
    "too many": ("a " * 1100, None),
}

LINUX = [
    "linux",
    "/@.snapshots/rootfs/snapshot-0/boot/vmlinuz-6.1.0-9-amd64",
    f"root=UUID={UUID}",
    "rootflags=subvol=@.snapshots/rootfs/snapshot-0",
    "ro",
]


def grub_file(root: Path, text: str) -> None:
    (root / "etc/default/grub").write_bytes(text.encode(errors="surrogateescape"))


@pytest.mark.parametrize("value, args", KERNEL_ARGS.values(), ids=KERNEL_ARGS.keys())
def test_a_snapshots_kernel_arguments_stay_in_its_own_entry(tmp_path, capsys, value, args):
    """A snapshot that is not deployed gives only the kernel arguments of its own entry; a value ash
    refuses leaves its entry without it, bootable, and one warning names the snapshot and setting."""
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64", grub="GRUB_TIMEOUT=3\n")
    snap0 = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    snap1 = make_root(tmp_path / "s1", "6.1.0-9-amd64")
    ctx = context(tmp_path, default, snapshots=(snap0, snap1))
    grub_file(snap0, "GRUB_CMDLINE_LINUX_DEFAULT=splash\n")
    benign = grub_commands(config.render(ctx, config.read_settings(default)))
    assert capsys.readouterr().err == ""
    grub_file(snap0, f"GRUB_CMDLINE_LINUX={shlex.quote(value)}\nGRUB_CMDLINE_LINUX_DEFAULT=splash\n")
    menu = config.render(ctx, config.read_settings(default))
    grub_script_check(menu)
    commands = grub_commands(menu)
    assert without(commands, "snapshot 0") == without(benign, "snapshot 0"), "nothing outside its entry changed"
    assert entry(commands, "snapshot 0") == (
        ["menuentry", "snapshot 0 - snapshot 0's description", "--class", "gnu-linux"],
        [
            ([*LINUX, *(args or []), "splash"], None),
            (["initrd", "/@.snapshots/rootfs/snapshot-0/boot/initrd.img-6.1.0-9-amd64"], None),
        ],
    )
    warnings = capsys.readouterr().err.splitlines()
    if args is None:
        assert len(warnings) == 1 and warnings[0].startswith("ash: warning: snapshot 0: GRUB_CMDLINE_LINUX is left out")
        assert warnings[0].isprintable() and len(warnings[0]) < 200
    else:
        assert warnings == []


def test_the_kernel_command_line_is_bounded(tmp_path, capsys):
    """A kernel takes 2047 bytes of command line on x86 (GRUB drops what is past it, silently):
    arguments that would make it longer are left out, together, with a warning."""
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64")
    grub_file(default, f'GRUB_CMDLINE_LINUX="{"a" * 1000}"\nGRUB_CMDLINE_LINUX_DEFAULT="{"b" * 1000}"\n')
    menu = config.render(context(tmp_path, default), {})
    linux = entry(grub_commands(menu), "Test OS 1")[1][0][0]
    assert linux[-1] == "ro"
    assert capsys.readouterr().err == (
        "ash: warning: snapshot 2: its kernel arguments (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) "
        "are left out of its menu entry: the command line would be longer than the 2047 bytes a kernel takes\n"
    )
    grub_file(default, f'GRUB_CMDLINE_LINUX="{"a" * 1000}"\nGRUB_CMDLINE_LINUX_DEFAULT="{"b" * 800}"\n')
    menu = config.render(context(tmp_path, default), {})
    assert entry(grub_commands(menu), "Test OS 1")[1][0][0][-2:] == ["a" * 1000, "b" * 800]


HEADER = [
    ["set", "timeout=5"],
    ["set", "default=0"],
    ["insmod", "part_msdos"],
    ["insmod", "part_gpt"],
    ["insmod", "btrfs"],
    ["search", "--no-floppy", "--fs-uuid", "--set=root", UUID],
]

#: Settings of the deployed snapshot that shape the whole menu: the value, and the commands it adds
#: to the menu's header (None: refused, the header is as without it).
MENU_SETTINGS = {
    "timeout": ("GRUB_TIMEOUT", "0", [["set", "timeout=0"], *HEADER[1:]]),
    "no timeout": ("GRUB_TIMEOUT", "-1", [["set", "timeout=-1"], *HEADER[1:]]),
    "timeout and a command": ("GRUB_TIMEOUT", "0 ; set default=1", None),
    "timeout not a number": ("GRUB_TIMEOUT", "1.5", None),
    "timeout too big": ("GRUB_TIMEOUT", "99999999999", None),
    "style": ("GRUB_TIMEOUT_STYLE", "hidden", [HEADER[0], ["set", "timeout_style=hidden"], *HEADER[1:]]),
    "style and a command": ("GRUB_TIMEOUT_STYLE", "menu;set timeout=99", None),
    "terminal": (
        "GRUB_TERMINAL",
        "serial console",
        [*HEADER, ["serial"], ["terminal_input", "serial", "console"], ["terminal_output", "serial", "console"]],
    ),
    "terminal and a command": ("GRUB_TERMINAL", "console ; set timeout=99", None),
    "terminal in braces": ("GRUB_TERMINAL_OUTPUT", "} console", None),
    "serial": ("GRUB_SERIAL_COMMAND", "serial --unit=0 --speed=115200", [*HEADER]),
    "serial and a command": ("GRUB_SERIAL_COMMAND", "serial; set timeout=99", None),
    "serial is another command": ("GRUB_SERIAL_COMMAND", "set timeout=99", None),
}


@pytest.mark.parametrize("key, value, header", MENU_SETTINGS.values(), ids=MENU_SETTINGS.keys())
def test_the_deployed_snapshots_menu_settings_are_checked(tmp_path, capsys, key, value, header):
    """The deployed snapshot's settings shape the menu, each as what it is (a number of seconds, a
    style, terminal names, a serial command with its words quoted), or not at all, with a warning."""
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64")
    snap = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    grub_file(default, f"{key}={shlex.quote(value)}\n")
    menu = config.render(context(tmp_path, default, snapshots=(snap,)), config.read_settings(default))
    grub_script_check(menu)
    commands = grub_commands(menu)
    assert [words for words, block in commands if block is None] == (header or HEADER)
    assert [words[0] for words, block in commands if block is not None] == ["menuentry", "submenu"]
    warnings = capsys.readouterr().err.splitlines()
    if header is None:
        assert len(warnings) == 1 and warnings[0].startswith(f"ash: warning: snapshot 2 (deployed): {key} is not used")
    else:
        assert warnings == []


def test_the_serial_command_with_a_terminal(tmp_path, capsys):
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64")
    grub_file(default, "GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND='serial --unit=1 --speed=9600'\n")
    commands = grub_commands(config.render(context(tmp_path, default), config.read_settings(default)))
    assert [w for w, block in commands if block is None][len(HEADER) :] == [
        ["serial", "--unit=1", "--speed=9600"],
        ["terminal_input", "serial"],
        ["terminal_output", "serial"],
    ]
    assert capsys.readouterr().err == ""


OS_PROBER_HOSTILE = """#!/bin/sh
printf '%s\\n' "{device}:Evil' ; set timeout=99 ; ':Ev}}il; x:chain" "{device}:Other Linux:Linux:linux"
"""
LINUX_BOOT_PROBER = """#!/bin/sh
echo "$1:$1:Good Linux:/boot/vmlinuz:/boot/initrd.img:root=/dev/sda2^quiet^x='a b'"
echo "$1:$1:Bad Linux:/boot/vmlinuz:/boot/initrd.img:root=/dev/sda2^quiet;^set^timeout=99"
echo "$1:$1:Bad path:/boot/vm$(printf '\\033')linuz::quiet"
"""


def test_os_prober_reports_are_text_from_elsewhere(busybox_root, tmp_path, other_os, capsys):
    """What os-prober reads on other disks gets into the menu as bounded titles and quoted words, or
    not at all, like what a snapshot holds."""
    device, uuid = other_os
    root = tmp_path / "deployment"
    subprocess.run(["cp", "-a", busybox_root, root], check=True)
    make_root(root, "6.1.0-9-amd64", grub="GRUB_DISABLE_OS_PROBER=false\n")
    for name, script_text in (
        ("os-prober", OS_PROBER_HOSTILE.format(device=device)),
        ("linux-boot-prober", LINUX_BOOT_PROBER),
    ):
        (root / "usr/bin" / name).write_text(script_text)
        (root / "usr/bin" / name).chmod(0o755)
    lines = osprober.entries(context(tmp_path, root))
    menu = "\n".join(lines) + "\n"
    grub_script_check(menu)
    assert grub_commands(menu) == [
        (
            ["menuentry", f"Evil' ; set timeout=99 ; ' (on {device})", "--class", "evilx"],
            [(["insmod", m], None) for m in ("part_msdos", "part_gpt", "fat", "ntfs", "chain")]
            + [(["search", "--no-floppy", "--fs-uuid", "--set=root", uuid], None), (["chainloader", "+1"], None)],
        ),
        (
            ["menuentry", f"Good Linux (on {device})", "--class", "gnu-linux"],
            [
                (["search", "--no-floppy", "--fs-uuid", "--set=root", uuid], None),
                (["linux", "/boot/vmlinuz", "root=/dev/sda2", "quiet", "x=a b"], None),
                (["initrd", "/boot/initrd.img"], None),
            ],
        ),
    ]
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and all(
        w.startswith(f"ash: warning: the system os-prober found on {device} (") for w in warnings
    )
    assert (
        "(Bad Linux) is left out of the boot menu: its kernel, initramfs or arguments: it has ';' outside quotes"
        in warnings[0]
    )
    assert (
        "(Bad path) is left out of the boot menu: its kernel, initramfs or arguments: it has the character U+001B"
        in warnings[1]
    )


# -- through the real CLI: a store whose snapshots carry a (dummy) kernel, deployed -----------------


@pytest.fixture
def system(sysroot, busybox_root, tmp_path) -> Ash:
    """A store on a sysroot laid out like an installed system (shared ``home`` and ``var``) whose
    base has a kernel and initramfs (dummy files: nothing boots them here) and /etc/default/grub."""
    base = tmp_path / "base"
    shutil.copytree(busybox_root, base, symlinks=True)
    make_root(base, "6.1.0-9-amd64", grub='GRUB_TIMEOUT=3\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n')
    for name in ("home", "var"):
        subprocess.run(["btrfs", "subvolume", "create", sysroot / name], check=True, capture_output=True)
    ash = Ash(sysroot)
    ash("init", "--from", base)
    return ash


HOSTILE_DESCRIPTION = "'}\n}\nset timeout=99\nmenuentry x {" + "x" * 10_000 + "\x1b[2J\x1b]0;t\x07 caf\udce9"
HOSTILE_GRUB = """GRUB_TIMEOUT=99
GRUB_TIMEOUT_STYLE=hidden
GRUB_CMDLINE_LINUX="quiet ; } ; } ; set timeout=99 ; submenu x { menuentry y { true"
GRUB_CMDLINE_LINUX_DEFAULT='ash.x="a;b }" splash'
"""


def test_a_hostile_snapshot_changes_only_its_own_entry(system):
    """``ash desc`` with GRUB syntax, line breaks, escapes, 10,000 characters and bytes that are not
    UTF-8, and a hostile /etc/default/grub in a snapshot that is not deployed: GRUB reads the menu,
    and nothing but that snapshot's own entry changes (not the timeout, not the default)."""
    system("clone", "0", "--desc", "deployed")
    system("clone", "0", "--desc", "hostile")
    system("deploy", "1")
    cfg = system.store / "boot/grub/grub.cfg"
    before = grub_commands(cfg.read_text())
    assert before[0] == (["set", "timeout=3"], None)
    uuid = next(words[-1] for words, _ in before if words[0] == "search")
    assert system("desc", "2", HOSTILE_DESCRIPTION).stderr == ""
    out = system(
        "run", "2", "sh", "-c", 'printf "%s" "$1" > /etc/default/grub', "sh", HOSTILE_GRUB
    )  # rewrites the menu
    assert out.stderr.splitlines() == [
        "ash: warning: snapshot 2: GRUB_CMDLINE_LINUX is left out of its menu entry: it has ';' outside quotes, "
        "which GRUB reads as the end of a command, not as part of an argument"
    ]
    menu = cfg.read_text()
    grub_script_check(menu)
    after = grub_commands(menu)
    assert without(after, "snapshot 2") == without(before, "snapshot 2"), "only snapshot 2's entry changed"
    sub = f"{system.sysroot.name}/.snapshots/rootfs/snapshot-2"
    assert entry(after, "snapshot 2") == (
        ["menuentry", "snapshot 2 - '}", "--class", "gnu-linux"],
        [
            (
                [
                    "linux",
                    f"/{sub}/boot/vmlinuz-6.1.0-9-amd64",
                    f"root=UUID={uuid}",
                    f"rootflags=subvol={sub}",
                    "ro",
                    "ash.x=a;b }",
                    "splash",
                ],
                None,
            ),
            (["initrd", f"/{sub}/boot/initrd.img-6.1.0-9-amd64"], None),
        ],
    )
    [node] = [n for n in system.tree_json()["tree"] if n["id"] == 2]  # a clone of 0 is a root of the tree
    whole = HOSTILE_DESCRIPTION.replace("\udce9", "\\xe9")  # ash records bytes that are not UTF-8 escaped
    assert node["description"] == whole, "the tree keeps the whole description"

    out = system("deploy", "2")  # now it is deployed: its menu settings are the menu's, and it boots
    assert out.stderr.splitlines()[0].startswith("ash: warning: snapshot 2: GRUB_CMDLINE_LINUX is left out")
    menu = cfg.read_text()
    grub_script_check(menu)
    commands = grub_commands(menu)
    assert [w for w, block in commands if block is None][:3] == [
        ["set", "timeout=99"],
        ["set", "timeout_style=hidden"],
        ["set", "default=0"],
    ]
    default = commands[[w[0] for w, _ in commands].index("menuentry")]
    assert "--id" in default[0] and default[0][default[0].index("--id") + 1] == "ash-default"
    dep = f"{system.sysroot.name}/.snapshots/deploy/2-2"
    assert default[1][0][0] == [
        "linux",
        f"/{dep}/boot/vmlinuz-6.1.0-9-amd64",
        f"root=UUID={uuid}",
        f"rootflags=subvol={dep}",
        "ro",
        "ash.x=a;b }",
        "splash",
    ]


# -- the menu is checked before it replaces the old one ---------------------------------------------


def checked_context(tmp_path: Path) -> tuple[DeployContext, str]:
    default = make_root(
        tmp_path / "d2", "6.1.0-10-amd64", grub='GRUB_TERMINAL=serial\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
    )
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64")
    ctx = context(
        tmp_path, default, fallback, (make_root(tmp_path / "s0", "6.1.0-9-amd64"), make_root(tmp_path / "s1"))
    )
    return ctx, config.render(
        ctx, config.read_settings(default), ["# other systems", "menuentry 'Other' {", "\tchainloader +1", "}"]
    )


#: Menus ash's own check refuses, made from a good one: (what to replace, with what, why).
BROKEN_MENUS = {
    "a command after the entries": ("# other systems", "set timeout=99", "line 28: 'set' after the menu entries"),
    "a command in an entry": (
        "\tinitrd /@.snapshots/deploy/2-5",
        "\tset default=1\n\tinitrd /@.snapshots/deploy/2-5",
        "line 15: 'set' in a menu entry",
    ),
    "a second default": ("set default=0", "set default=0\nset default=0", "line 5: a second 'set default'"),
    "another default": ("set default=0", "set default=1", "line 4: 'set default=1' is not a setting ash writes"),
    "a separator": ("insmod btrfs", "insmod btrfs; set timeout=99", "line 7: not words ash writes"),
    "a variable": ("insmod btrfs", "insmod $x", "line 7: not words ash writes"),
    "double quotes": ("insmod btrfs", 'insmod "btrfs"', "line 7: not words ash writes"),
    "a quote across lines": ("insmod btrfs", "insmod 'btr\nfs'", "line 7: not words ash writes"),
    "a control character": ("insmod btrfs", "insmod 'b\x1btrfs'", "line 7: the character U+001B"),
    "a NUL": ("insmod btrfs", "insmod 'b\x00trfs'", "line 7: the character U+0000"),
    "not UTF-8": ("insmod btrfs", "insmod 'b\udcfftrfs'", "line 7: the character U+DCFF"),
    "a long line": ("insmod btrfs", "insmod " + "x" * 5000, "line 7: longer than 4096 bytes"),
    "an open block": ("# other systems", "# other systems\nsubmenu x {", "a block is not closed at the end"),
    "an extra brace": ("# other systems", "}", "line 28: a '}' that closes nothing"),
    "an empty block": ("# other systems", "menuentry x {\n}", "line 29: an empty block (a GRUB syntax error)"),
    "the default is not first": (
        "menuentry 'Test OS 1, snapshot 2'",
        "menuentry 'Other' {\n\tchainloader +1\n}\nmenuentry 'Test OS 1, snapshot 2'",
        "the first menu entry is not the default deployment's (--id ash-default)",
    ),
    "the default boots another root": (
        "rootflags=subvol=@.snapshots/deploy/2-5 ",
        "rootflags=subvol=@.snapshots/deploy/1-4 ",
        "the default entry does not boot @.snapshots/deploy/2-5",
    ),
}


@pytest.mark.parametrize("old, new, why", BROKEN_MENUS.values(), ids=BROKEN_MENUS.keys())
def test_ash_checks_the_structure_of_the_menu(tmp_path, old, new, why):
    ctx, menu = checked_context(tmp_path)
    verify.structure(menu, ctx)
    assert old in menu
    with pytest.raises(script.Refused) as refused:
        verify.structure(menu.replace(old, new, 1), ctx)
    assert str(refused.value) == why


def test_every_menu_of_these_tests_passes_the_check(tmp_path):
    for i, text in enumerate(HOSTILE_TEXT.values()):
        (tmp_path / str(i)).mkdir()
        menu = hostile_menu(tmp_path / str(i), s0=text, s1=text)
        verify.structure(menu, context(tmp_path / str(i), tmp_path / f"{i}/d2"))


def test_a_menu_that_fails_its_check_is_not_written(tmp_path, monkeypatch):
    """If the new menu fails grub-script-check or ash's check, the old grub.cfg stays and the
    error is one line (the deploy then stops, as on any bootloader failure)."""
    ctx, _ = checked_context(tmp_path)
    cfg = tmp_path / ".snapshots/boot/grub/grub.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("the old menu\n")
    real = config.render
    for broken, why in [
        (
            lambda *a: real(*a).replace("insmod btrfs", "insmod 'x" + "x" * 8200 + "'"),
            "ash-grub's check: line 7: longer than 4096 bytes",
        ),
        (lambda *a: real(*a) + "menuentry x {\n}\n", "ash-grub's check: line 29: an empty block (a GRUB syntax error)"),
        (
            lambda *a: real(*a).replace(
                "menuentry 'Test OS 1, snapshot 2'", "menuentry 'a' {\n\tlinux /k\n}\nmenuentry 'Test OS 1, snapshot 2'"
            ),
            "ash-grub's check: the first menu entry is not the default deployment's (--id ash-default)",
        ),
    ]:
        monkeypatch.setattr(config, "render", broken)
        with pytest.raises(AshError) as error:
            plugin.ash_bootloader_update(ctx)
        assert error.value.message == f"the new boot menu does not pass {why}; grub.cfg is left as it was"
        assert cfg.read_text() == "the old menu\n"
    monkeypatch.setattr(verify, "structure", lambda text, ctx: None)  # grub-script-check alone
    monkeypatch.setattr(config, "render", lambda *a: real(*a) + "if true; then\n")
    with pytest.raises(AshError) as error:
        plugin.ash_bootloader_update(ctx)
    assert (
        error.value.message
        == "the new boot menu does not pass grub-script-check (the host's): Syntax error at line 28;"
        " grub.cfg is left as it was"
    )
    assert cfg.read_text() == "the old menu\n"
    monkeypatch.undo()
    plugin.ash_bootloader_update(ctx)
    assert cfg.read_text() == config.render(ctx, config.read_settings(ctx.deployment))


FAKE_CHECK = """#!/bin/sh
cat > /checked-menu
[ -e /fail-the-check ] || exit 0
echo "error: syntax error." >&2
echo "Syntax error at line 3" >&2
exit 1
"""


def test_the_deployed_snapshots_grub_script_check_is_used(system):
    """The menu is checked with the GRUB of the deployed snapshot when it has one (here a double
    that keeps what it was given, and fails when asked): a failure stops the deploy, changing nothing."""
    system("clone", "0")
    system(
        "run",
        "1",
        "sh",
        "-c",
        f"mkdir -p /usr/bin && printf '%s' '{FAKE_CHECK}' > /usr/bin/grub-script-check"
        " && chmod 755 /usr/bin/grub-script-check",
    )
    system("deploy", "1")
    cfg = system.store / "boot/grub/grub.cfg"
    assert (system.store / "deploy/1-1/checked-menu").read_text() == cfg.read_text()
    state = (system.store / "ash/deploy.json").read_text()
    system("clone", "1")
    system("run", "2", "touch", "/fail-the-check")
    before = cfg.read_text()
    out = system("deploy", "2", check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "ash: error: the new boot menu does not pass grub-script-check (snapshot 2's): Syntax error at line 3;"
        " grub.cfg is left as it was"
    ]
    assert cfg.read_text() == before and (system.store / "ash/deploy.json").read_text() == state
    assert sorted(p.name for p in (system.store / "deploy").iterdir()) == ["1-1"]


def test_a_snapshot_whose_subvolume_path_grub_cannot_take_is_left_out(tmp_path, capsys):
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64")
    snap = make_root(tmp_path / "s0", "6.1.0-9-amd64")
    ctx = context(tmp_path, default, snapshots=(snap,))
    ctx = attrs.evolve(ctx, snapshots=(attrs.evolve(ctx.snapshots[0], subvolume="@.snapshots/rootfs/snap\nshot-0"),))
    menu = config.render(ctx, {})
    grub_script_check(menu)
    verify.structure(menu, ctx)
    assert "# snapshot 0: left out, the path of its kernel or subvolume: it has the character U+000A\n" in menu
    assert capsys.readouterr().err == (
        "ash: warning: snapshot 0 is left out of the boot menu: the path of its kernel or subvolume:"
        " it has the character U+000A\n"
    )
