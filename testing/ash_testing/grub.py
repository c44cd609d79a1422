"""Menus and roots for testing ash-grub: roots with kernels and /etc/default/grub, deploy contexts
made of them, and two readings of a menu: the real grub-script-check, and :func:`grub_commands`.

What GRUB would do with a menu is read back two ways: the real grub-script-check (GRUB's own
parser; it aborts on a token of 8192 bytes or more, as GRUB itself does) and grub_commands(), a
reading of GRUB's lexer (grub-core/script/yylex.l) written for these tests: it shows which
commands a menu runs, and where, whatever ash-grub believes it wrote.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ashcore.api import BootTarget, DeployContext

from .require import require

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


def context(
    tmp_path: Path,
    default: Path,
    fallback: Path | None = None,
    snapshots: tuple[Path, ...] = (),
    descriptions: dict[int, str] | None = None,
) -> DeployContext:
    def target(sid: int, root: Path, where: str) -> BootTarget:
        return BootTarget(
            sid, root, f"@.snapshots/{where}", (descriptions or {}).get(sid, f"snapshot {sid}'s description")
        )

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


def grub_script_check(text: str) -> None:
    """The real grub-script-check accepts ``text`` (which must be UTF-8, as GRUB reads it)."""
    require(shutil.which("grub-script-check") is not None, "needs grub-script-check (grub2-common)")
    proc = subprocess.run(["grub-script-check"], input=text.encode(), capture_output=True)
    assert proc.returncode == 0, f"grub-script-check: {proc.stderr.decode(errors='replace')[-300:]}"


def grub_commands(text: str) -> list:
    """The commands GRUB reads in ``text``, as ``(words, block)`` pairs; ``block`` is the list of
    commands between the ``{ }`` of a menuentry or submenu (None for other commands). Words are as
    GRUB has them after quote removal; a variable GRUB would expand is ``<$name>``, and an operator
    (``|``, ``&``, ``<``, ``>``) is a word ``<op>``, so that nothing GRUB would do goes unseen."""
    top: list = []
    stack = [top]
    words: list[str] = []
    word: list[str] | None = None
    i = 0

    def end_word() -> None:
        nonlocal word
        if word is not None:
            words.append("".join(word))
            word = None

    def end_command(block: bool = False) -> None:
        nonlocal words
        end_word()
        if words:
            stack[-1].append((words, [] if block else None))
            if block:
                stack.append(stack[-1][-1][1])
        elif block:
            raise AssertionError("a block without a command")
        words = []

    while i < len(text):
        c = text[i]
        if c in " \t":
            end_word()
        elif c == "#" and word is None:
            i = text.find("\n", i) - 1 if "\n" in text[i:] else len(text)
        elif c in "\n;":
            end_command()
        elif c == "{":
            end_command(block=True)
        elif c == "}":
            end_command()
            assert len(stack) > 1, "a '}' closes nothing"
            stack.pop()
        elif c in "|&<>":
            end_word()
            words.append(f"<{c}>")
        elif c == "'":
            j = text.index("'", i + 1)
            word = (word or []) + [text[i + 1 : j]]
            i = j
        elif c == '"':
            word = word or []
            i += 1
            while text[i] != '"':
                if text[i] == "\\" and text[i + 1] in '$\\"':
                    i += 1
                elif text[i] == "$":
                    raise AssertionError("a variable in double quotes")
                word.append(text[i])
                i += 1
        elif c == "\\":
            word = (word or []) + [text[i + 1]]
            i += 1
        elif c == "$":
            name = re.match(r"\$(\{\w+\}|\w+|[?#*@])", text[i:])
            word = (word or []) + [f"<{name.group(0) if name else '$'}>"]
            i += len(name.group(0)) - 1 if name else 0
        else:
            word = (word or []) + [c]
        i += 1
    end_command()
    assert len(stack) == 1, "a block is not closed"
    return top


def entry(commands: list, title_start: str) -> tuple[list[str], list] | None:
    """The menu entry (at any depth) whose title starts with ``title_start``."""
    for words, block in commands:
        if block is None:
            continue
        if words[0] == "menuentry" and words[1].startswith(title_start):
            return words, block
        found = entry(block, title_start)
        if found:
            return found
    return None


def without(commands: list, title_start: str) -> list:
    """``commands`` with the entry whose title starts with ``title_start`` taken out."""
    out = []
    for words, block in commands:
        if block is not None and words[0] == "menuentry" and words[1].startswith(title_start):
            continue
        out.append((words, None if block is None else without(block, title_start)))
    return out
