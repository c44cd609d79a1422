"""Writing GRUB's script language safely: words, titles and comments from any text.

What matters of GRUB's lexer (``grub-core/script/yylex.l``):

* A word is a run of characters other than blanks and ``{ } | & $ ; < > ' " \\`` and newline, joined
  with quoted parts. Inside single quotes everything is literal, newlines too, but a single quote
  cannot appear at all: ``it's`` is written ``'it'\\''s'`` (close, an escaped quote, reopen). In
  double quotes and bare words ``$name`` is expanded, so ash never writes either form for text.
* ``{`` and ``}`` end a word and open or close a block; ``;`` and a newline end a command; ``#`` at
  the start of a word begins a comment to the end of the line. A standalone ``[[`` or ``]]`` is a
  syntax error.
* Every token, and every comment, is copied into a fixed array of ``YYLMAX`` (8192) bytes: a longer
  one is a fatal error ("token too large, exceeds YYLMAX ... Aborted"), and GRUB shows no menu at all.
  A NUL byte ends GRUB's reading of a line in the middle, whatever quote is open.
* A menuentry title is parsed for options: one that starts with ``-`` would be taken for one.

So ash writes text from a snapshot (its description, its os-release name) only through
:func:`menu_text` (one line of printable characters, bounded) and every word through :func:`quote`,
or :func:`word` when the text must reach GRUB exactly (a path) and is refused otherwise.
"""

from __future__ import annotations

import re

YYLMAX = 8192  # GRUB's lexer array for one token: a token must be shorter
MAX_LINE = 4096  # no line ash writes is longer (bytes); no quote spans lines, so no token is either
MAX_WORD = 1024  # a path or other exact word from a snapshot (bytes, as written)
TITLE_TEXT = 64  # characters of a description or a name shown in a title

_BARE = re.compile(r"[A-Za-z0-9_./,:=+@%-]+")
_BLANKS = re.compile(r"\s+")


class Refused(ValueError):
    """Text that cannot be written into the menu as it is; the message says why, in a few words."""


def quote(text: str) -> str:
    """``text`` as one GRUB word that GRUB reads back unchanged (no variable is expanded in it)."""
    if _BARE.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def unprintable(text: str) -> str | None:
    """The first character of ``text`` a menu cannot hold (a control character, a line break, a
    surrogate left by bytes that were not UTF-8, an invisible format character), as ``U+XXXX``."""
    bad = next((c for c in text if not c.isprintable()), None)
    return None if bad is None else f"U+{ord(bad):04X}"


def word(text: str, limit: int = MAX_WORD) -> str:
    """``text`` quoted as one GRUB word, if GRUB can be given it exactly; else :class:`Refused`."""
    bad = unprintable(text)
    if bad:
        raise Refused(f"it has the character {bad}" + (" (not UTF-8)" if 0xDC80 <= int(bad[2:], 16) <= 0xDCFF else ""))
    if not text:
        raise Refused("it is empty")
    quoted = quote(text)
    if len(quoted.encode()) > limit:
        raise Refused(f"it is longer than {limit} bytes")
    return quoted


def menu_text(text: str, limit: int = TITLE_TEXT) -> str:
    """What a menu shows of ``text``: its first line that has any, each character a menu cannot
    show made ``?``, blanks squeezed, cut to ``limit`` characters (ending ``...`` when cut). The text
    itself (a snapshot's description in the tree) keeps everything."""
    line = next((part for part in text.splitlines() if part.strip()), "")
    shown = "".join(c if c.isprintable() else " " if c.isspace() else "?" for c in line)
    shown = _BLANKS.sub(" ", shown).strip()
    return shown if len(shown) <= limit else shown[: limit - 3].rstrip() + "..."


def title(text: str) -> str:
    """A menuentry title for ``text`` (already bounded): quoted, never starting with ``-``."""
    return quote(text.lstrip("- ") or "?")


def comment(text: str) -> str:
    """A comment line saying ``text``, which may come from a snapshot (a path, a name)."""
    return "# " + menu_text(text, limit=MAX_LINE // 8)


CMDLINE_MAX = 2047  # bytes of kernel command line on x86 (COMMAND_LINE_SIZE 2048, with its NUL)
_SYNTAX = {
    ";": "the end of a command",
    "{": "a block",
    "}": "the end of a block",
    "|": "a pipe",
    "&": "an operator",
    "<": "a redirection",
    ">": "a redirection",
    "$": "a variable",
}


def arguments(value: str) -> list[str]:
    """The words of ``value`` (a setting such as ``GRUB_CMDLINE_LINUX``) as GRUB makes them when the
    value is written bare into a command, as grub-mkconfig writes it into each ``linux`` line: blanks
    separate words, quotes and backslashes are removed as GRUB removes them (``a="b c"`` is the one
    argument ``a=b c``). Ash then writes each word quoted, so it stays one argument.

    What would be more than words to GRUB is :class:`Refused`: ``; { } | & < >`` or ``$`` outside
    single quotes, ``$`` in double quotes, ``#`` starting a word (a comment), a quote left open, a
    trailing backslash, and any character a menu cannot hold (controls, line breaks, bytes that were
    not UTF-8, invisible format characters)."""
    bad = unprintable(value.replace("\t", " "))
    if bad:
        raise Refused(f"it has the character {bad}" + (" (not UTF-8)" if 0xDC80 <= int(bad[2:], 16) <= 0xDCFF else ""))
    words: list[str] = []
    current: str | None = None
    i = 0
    while i < len(value):
        c = value[i]
        if c in " \t":
            if current:
                words.append(current)
            current = None
        elif c == "'":
            end = value.find("'", i + 1)
            if end < 0:
                raise Refused("a single quote is not closed")
            current, i = (current or "") + value[i + 1 : end], end
        elif c == '"':
            current, i = (current or ""), i + 1
            while i < len(value) and value[i] != '"':
                if value[i] == "$":
                    raise Refused("it has '$' in double quotes, where GRUB would expand a variable")
                if value[i] == "\\" and value[i + 1 : i + 2] in ("$", "\\", '"'):
                    i += 1
                current, i = current + value[i], i + 1
            if i == len(value):
                raise Refused("a double quote is not closed")
        elif c == "\\":
            if i + 1 == len(value):
                raise Refused("it ends in a backslash")
            current, i = (current or "") + value[i + 1], i + 1
        elif c == "#" and current is None:
            raise Refused("a word starts with '#', where GRUB would begin a comment")
        elif c in _SYNTAX:
            raise Refused(f"it has {c!r} outside quotes, which GRUB reads as {_SYNTAX[c]}, not as part of an argument")
        else:
            current = (current or "") + c
        i += 1
    if current:
        words.append(current)
    return words


def command_line_bytes(image: str, args: list[str]) -> int:
    """The length of the kernel command line GRUB makes of ``linux image args...``: ``BOOT_IMAGE=``
    and each word, a backslash before each quote or backslash and double quotes around a word with a
    space (``grub_create_loader_cmdline``), separated by spaces."""
    return (
        len("BOOT_IMAGE=")
        + sum(len(a.encode()) + sum(a.count(c) for c in "\\'\"") + (2 if " " in a else 0) + 1 for a in [image, *args])
        - 1
    )
