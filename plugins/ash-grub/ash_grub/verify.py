"""Checking a new ``grub.cfg`` before it replaces the old one.

Two checks, both must pass (:func:`check`), else the old menu stays and the error is one line:

* :func:`structure`, ash-grub's own: the text is only what ash writes (lines of words made by
  :func:`~ash_grub.script.quote`, ``{`` ``}`` blocks, comments; UTF-8 of printable characters; no
  line near GRUB's token limit), the commands are those ash writes and where it writes them (the
  settings before the entries, nothing at the top after them but entries), and the first entry is
  the default deployment's, booting its subvolume. This is what grub-script-check cannot know: a
  menu that injects ``set timeout=99`` is good GRUB.
* :func:`script_check`, GRUB's own parser: ``grub-script-check`` of the deployed snapshot (run in a
  chroot of the deployment, as the GRUB version the system has), else the host's; without either,
  the structural check alone.
"""

from __future__ import annotations

import re
import shutil
import tempfile

from ashcore.api import AshError, Chroot, DeployContext, in_root, run

from .script import MAX_LINE, Refused, menu_text, unprintable

_WORD = r"(?:[A-Za-z0-9_./,:=+@%-]|'[^'\n]*'|\\')+"  # one way to match each character: no backtracking blow-up
_COMMAND = re.compile(rf"({_WORD}(?: {_WORD})*?)( \{{)?")
_TOP = ("set", "insmod", "search", "serial", "terminal_input", "terminal_output")
_IN_ENTRY = ("linux", "initrd", "insmod", "search", "chainloader")
_SETS = {"timeout": r"-1|\d{1,5}", "timeout_style": r"menu|countdown|hidden", "default": r"0"}
CHECKERS = ("usr/bin", "usr/sbin", "bin", "sbin")


def unquote(word: str) -> str:
    """The text GRUB reads in a word ash wrote."""
    return re.sub(r"'([^']*)'|\\(')", lambda m: m.group(1) if m.group(1) is not None else m.group(2), word)


def structure(text: str, ctx: DeployContext) -> None:
    """Raise :class:`~ash_grub.script.Refused` saying where and why ``text`` is not a menu as ash
    writes it for ``ctx``."""
    assert ctx.default is not None
    stack: list[tuple[str, int]] = []  # open blocks: (command, commands in it so far)
    entries: list[list[str]] = []  # top-level blocks: their words, then their commands' words
    seen: set[str] = set()
    for n, line in enumerate(text.split("\n"), 1):
        if (bad := unprintable(line.replace("\t", " "))) is not None:
            raise Refused(f"line {n}: the character {bad}")
        if len(line.encode()) > MAX_LINE:
            raise Refused(f"line {n}: longer than {MAX_LINE} bytes")
        body = line.lstrip("\t")
        if not body or body.startswith("# "):
            continue
        if body == "}":
            if not stack:
                raise Refused(f"line {n}: a '}}' that closes nothing")
            if stack.pop()[1] == 0:
                raise Refused(f"line {n}: an empty block (a GRUB syntax error)")
            continue
        match = _COMMAND.fullmatch(body)
        if not match:
            raise Refused(f"line {n}: not words ash writes")
        words = [unquote(w) for w in re.findall(_WORD, match.group(1))]
        name, opens = words[0], match.group(2) is not None
        if stack:
            stack[-1] = (stack[-1][0], stack[-1][1] + 1)
        inside = stack[-1][0] if stack else None
        if opens:
            if (name, inside) not in (("menuentry", None), ("submenu", None), ("menuentry", "submenu")):
                raise Refused(f"line {n}: a {name!r} block {f'in a {inside}' if inside else 'here'}")
            stack.append((name, 0))
            if inside is None:
                entries.append(words)
            continue
        if inside == "submenu" or (inside == "menuentry" and name not in _IN_ENTRY):
            raise Refused(f"line {n}: {name!r} in a {'menu entry' if inside == 'menuentry' else 'submenu'}")
        if inside == "menuentry":
            if len(stack) == 1 and len(entries) == 1:
                entries[0] += ["\n", *words]
            continue
        if name not in _TOP:
            raise Refused(f"line {n}: {name!r} is not a command ash writes")
        if entries:
            raise Refused(f"line {n}: {name!r} after the menu entries")
        if name == "set":
            key, _, value = words[1].partition("=") if len(words) == 2 else ("", "", "")
            if key not in _SETS or not re.fullmatch(_SETS[key], value):
                raise Refused(f"line {n}: 'set {' '.join(words[1:])}' is not a setting ash writes")
            if key in seen:
                raise Refused(f"line {n}: a second 'set {key}'")
            seen.add(key)
    if stack:
        raise Refused("a block is not closed at the end")
    if "default" not in seen:
        raise Refused("no 'set default=0'")
    first = entries[0] if entries else []
    head = first[: first.index("\n")] if "\n" in first else first
    if head[:1] != ["menuentry"] or "--id" not in head or head[head.index("--id") + 1 :][:1] != ["ash-default"]:
        raise Refused("the first menu entry is not the default deployment's (--id ash-default)")
    if f"rootflags=subvol={ctx.default.subvolume}" not in first or f"root=UUID={ctx.fs_uuid}" not in first:
        raise Refused(f"the default entry does not boot {ctx.default.subvolume}")
    if not {"linux", "initrd"} <= set(first):
        raise Refused("the default entry has no linux or initrd line")


def _checker(ctx: DeployContext) -> str | None:
    """Where the deployment has grub-script-check, as it sees it, or None."""
    for directory in CHECKERS:
        try:
            if in_root(ctx.deployment, f"{directory}/grub-script-check").is_file():
                return f"/{directory}/grub-script-check"
        except OSError:
            continue
    return None


def script_check(text: str, ctx: DeployContext) -> None:
    """Have GRUB's own parser read ``text``: the deployed snapshot's grub-script-check, else the
    host's, else nothing. Raises :class:`~ash_grub.script.Refused` with what it said."""
    inside = _checker(ctx)
    if inside is not None:
        whose = f"snapshot {ctx.snapshot}'s"
        with tempfile.TemporaryFile() as menu:
            menu.write(text.encode())
            menu.flush()
            menu.seek(0)
            proc = Chroot(root=ctx.deployment, snapshot=ctx.snapshot).run(
                [inside], stdin=menu.fileno(), capture=True, check=False
            )
    elif shutil.which("grub-script-check"):
        whose = "the host's"
        proc = run(["grub-script-check"], input=text, capture=True, check=False)
    else:
        return
    if proc.returncode != 0:
        said = [line.strip() for line in f"{proc.stdout or ''}\n{proc.stderr or ''}".splitlines() if line.strip()]
        reason = next(
            (s for s in said if s.startswith(("fatal error:", "Syntax error at line"))), said[-1] if said else ""
        )
        raise Refused(f"grub-script-check ({whose}): {menu_text(reason, 200) or f'exit status {proc.returncode}'}")


def check(text: str, ctx: DeployContext) -> None:
    """Both checks, or an :class:`AshError` of one line saying which failed and why."""
    try:
        try:
            structure(text, ctx)
        except Refused as why:
            raise Refused(f"ash-grub's check: {why}") from None
        script_check(text, ctx)
    except Refused as why:
        raise AshError(f"the new boot menu does not pass {why}; grub.cfg is left as it was") from None
