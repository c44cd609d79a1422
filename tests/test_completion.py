"""Shell completion, static scripts made from the command definitions: bash and fish really complete
commands, options and the store's snapshot numbers; zsh's script parses and names every command."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from ash_testing.require import require

from ashcore.cli import completion
from ashcore.cli.introspect import commands

NAMES = [c.name for c in commands()]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("completion")
    found = {}
    for shell, make in completion.MAKERS.items():
        path = where / shell
        path.write_text(make(list(commands())))
        found[shell] = os.fspath(path)
    return found


def bash_complete(script: str, words: list[str], sysroot=None) -> set[str]:
    line = " ".join(f"'{w}'" for w in words)
    program = f'source "$1"; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _ash; printf "%s\\n" "${{COMPREPLY[@]}}"'
    env = {"PATH": os.environ["PATH"], **({"ASH_SYSROOT": os.fspath(sysroot)} if sysroot else {})}
    out = subprocess.run(["bash", "-c", program, "bash", script], capture_output=True, text=True, env=env, check=True)
    return set(out.stdout.split())


def test_bash_completes_commands_options_and_snapshots(scripts, store):
    store("clone", "0")
    assert bash_complete(scripts["bash"], ["ash", "de"]) == {"del", "deploy", "desc"}
    assert bash_complete(scripts["bash"], ["ash", "--sysroot", "/x", "tree", "--j"]) == {"--json"}
    assert bash_complete(scripts["bash"], ["ash", "deploy", ""], store.sysroot) == {"0", "1"}
    assert bash_complete(scripts["bash"], ["ash", "tree", ""], store.sysroot) == set(), "tree takes no snapshot"
    assert "--scheduled" in bash_complete(scripts["bash"], ["ash", "auto-upgrade", "--"])


def test_fish_completes_commands_options_and_snapshots(scripts, store, tmp_path):
    require(shutil.which("fish") is not None, "needs fish")
    store("clone", "0")

    def complete(line: str) -> set[str]:
        program = f'source "{scripts["fish"]}"; complete -C "{line}"'
        env = {"PATH": os.environ["PATH"], "ASH_SYSROOT": os.fspath(store.sysroot), "HOME": os.fspath(tmp_path)}
        argv = ["fish", "--no-config", "-c", program]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        return {line.split("\t")[0] for line in out.stdout.splitlines()}

    assert {"deploy", "desc", "del"} <= complete("ash de")
    assert complete("ash deploy ") == {"0", "1"}
    assert "--json" in complete("ash tree --")


def test_zsh_script_parses_and_names_every_command(scripts):
    require(shutil.which("zsh") is not None, "needs zsh")
    subprocess.run(["zsh", "-n", scripts["zsh"]], check=True)
    text = open(scripts["zsh"]).read()
    assert text.startswith("#compdef ash\n")
    assert all(f"'{name}:" in text for name in NAMES)


def test_the_scripts_are_installed_where_the_shells_look():
    assert set(completion.scripts()) == set(completion.PATHS.values())
