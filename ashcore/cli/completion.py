"""Shell completion for bash, zsh and fish: static scripts made from the command definitions, so
that completing costs ash nothing at start-up (no hidden completion mode in the program itself).
They complete commands, their options, and snapshot numbers, read from the store's directory
(``$ASH_SYSROOT/.snapshots/rootfs/snapshot-N``) without starting ash.

``ash setup`` and ``ash self-update`` install them (:data:`PATHS`); ``python3 -m
ashcore.cli.completion bash|zsh|fish`` prints one.
"""

from __future__ import annotations

import sys

from .introspect import Command, Option, commands, global_options

PATHS = {
    "bash": "usr/share/bash-completion/completions/ash",
    "zsh": "usr/share/zsh/vendor-completions/_ash",
    "fish": "usr/share/fish/vendor_completions.d/ash.fish",
}
HEADER = "# Completion for ash, made from its command definitions (ashcore.cli.completion).\n"


def _flags(options: tuple[Option, ...]) -> str:
    return " ".join(flag for option in options for flag in option.flags)


def _quote(text: str) -> str:
    """``text`` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _summary(command: Command) -> str:
    return command.help.split("\n", 1)[0].strip()


def bash(found: list[Command]) -> str:
    takes_value = " ".join(f for o in global_options() if o.takes_value for f in o.flags)
    cases = "".join(f"    {c.name}) opts={_quote(_flags(c.options))}; snapshots={int(c.snapshots)} ;;\n" for c in found)
    return f"""{HEADER}
_ash_snapshots() {{
    local d
    for d in "${{ASH_SYSROOT:-/}}"/.snapshots/rootfs/snapshot-*; do
        [ -e "$d" ] && printf '%s\\n' "${{d##*/snapshot-}}"
    done
}}

_ash() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd= i opts snapshots=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            {takes_value.replace(" ", "|") or "--never"}) ((i++)) ;;
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W {_quote(_flags(global_options()) + " " + " ".join(c.name for c in found))} -- "$cur"))
        return
    fi
    case $cmd in
{cases}    *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif ((snapshots)); then
        COMPREPLY=($(compgen -W "$(_ash_snapshots)" -- "$cur"))
    fi
}}

complete -F _ash ash
"""


def zsh(found: list[Command]) -> str:
    described = "\n".join("        " + _quote(c.name + ":" + _summary(c).replace(":", "\\:")) for c in found)
    cases = "".join(f"        {c.name}) opts=({_flags(c.options)}); snapshots={int(c.snapshots)} ;;\n" for c in found)
    return f"""#compdef ash
{HEADER}
_ash() {{
    local -a commands opts numbers
    local snapshots=0 cmd= i
    commands=(
{described}
    )
    for ((i = 2; i < CURRENT; i++)); do
        [[ $words[i] != -* ]] && {{ cmd=$words[i]; break }}
    done
    if [[ -z $cmd ]]; then
        _describe command commands
        return
    fi
    case $cmd in
{cases}        *) return 1 ;;
    esac
    if [[ $PREFIX == -* ]]; then
        compadd -a opts
    elif ((snapshots)); then
        numbers=(${{${{(f)"$(print -l ${{ASH_SYSROOT:-/}}/.snapshots/rootfs/snapshot-*(N))"}}##*/snapshot-}})
        compadd -a numbers
    fi
}}

_ash "$@"
"""


def fish(found: list[Command]) -> str:
    lines = [
        HEADER,
        "function __ash_snapshots",
        "    set -l root /",
        "    set -q ASH_SYSROOT; and set root $ASH_SYSROOT",
        "    for d in $root/.snapshots/rootfs/snapshot-*",
        "        string replace -r '.*/snapshot-' '' -- $d",
        "    end",
        "end",
        "",
        "complete -c ash -f",
    ]
    for option in global_options():
        lines.append(f"complete -c ash -n __fish_use_subcommand {_fish_flags(option)}")
    for c in found:
        lines.append(f"complete -c ash -n __fish_use_subcommand -a {c.name} -d {_quote(_summary(c))}")
        when = f"-n '__fish_seen_subcommand_from {c.name}'"
        for option in c.options:
            lines.append(f"complete -c ash {when} {_fish_flags(option)}")
        if c.snapshots:
            lines.append(f"complete -c ash {when} -a '(__ash_snapshots)'")
    return "\n".join(lines) + "\n"


def _fish_flags(option: Option) -> str:
    words = [f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in option.flags]
    return " ".join([*words, *(["-r"] if option.takes_value else []), "-d", _quote(option.help.split(".")[0])])


MAKERS = {"bash": bash, "zsh": zsh, "fish": fish}


def scripts() -> dict[str, str]:
    """Every shell's script, by the path it is installed at."""
    found = list(commands())
    return {PATHS[shell]: make(found) for shell, make in MAKERS.items()}


if __name__ == "__main__":
    print(MAKERS[sys.argv[1]](list(commands())), end="")
