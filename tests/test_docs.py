"""docs/plugins.md is a reference a third party can work from: every hook has its section with the
hook's real signature, every name of the plugin API is described, and the package-manager tutorial
works as written (its files are taken from the page, built and installed with pip)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from ash_testing.plugins import env_with, pip_install

import ashcore.api
from ashcore.hooks import specs

PAGE = (Path(__file__).resolve().parents[1] / "docs/plugins.md").read_text()
HOOKS = sorted(name for name, _ in inspect.getmembers(specs, inspect.isfunction) if name.startswith("ash_"))


def test_the_hooks_are_all_found():
    assert len(HOOKS) == 18 and set(specs.PACKAGE_HOOKS) < set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str):
    spec = getattr(specs, hook)
    signature = str(inspect.signature(spec)).replace("'", "")
    assert f"#### `{hook}{signature}`" in PAGE, f"docs/plugins.md lacks a section '#### `{hook}{signature}`'"
    section = PAGE.split(f"#### `{hook}", 1)[1].split("\n#### ", 1)[0].split("\n## ", 1)[0]
    assert "**When:**" in section and "**Does:**" in section and "```" in section, f"{hook}: when, what, an example"


@pytest.mark.parametrize("name", ashcore.api.__all__)
def test_every_api_name_is_described(name: str):
    table = PAGE.split("## The plugin API", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\|.*`{re.escape(name)}(\(|`)", table, re.M), f"docs/plugins.md's API table lacks {name}"


def test_the_tutorial_plugin_works_as_written(store, tmp_path, plugin_site):
    tutorial = PAGE.split("## Tutorial", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(?:toml|python)\n# (\S+)\n(.*?)^```", tutorial, re.M | re.S)
    assert [name for name, _ in blocks] == ["ash-tinypm/pyproject.toml", "ash-tinypm/ash_tinypm/__init__.py"]
    for name, text in blocks:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    pip_install(tmp_path / "ash-tinypm", plugin_site)
    env = env_with(plugin_site)
    assert store("clone", "0", env=env).stdout == "1\n"
    assert store("install", "1", "hello", "world", env=env).stdout == "install: snapshot 1 updated\n"
    assert store("list", "1", env=env).stdout == "hello 1.0\nworld 1.0\n"
    store("upgrade", "1", env=env)
    store("remove", "1", "world", env=env)
    assert store("list", "1", env=env).stdout == "hello 2.0\n"
    refused = store("install", "1", "a/b", env=env, check=False)
    assert refused.returncode == 1 and "ash: error: invalid package name 'a/b'" in refused.stderr
    assert store("list", "1", env=env).stdout == "hello 2.0\n", "the refused install changed nothing"
    assert store("branch", "1", env=env).stdout == "2\n"
    store("install", "1", "extra", env=env)
    store("force-sync", "1", env=env)
    assert store("list", "2", env=env).stdout == "extra 1.0\nhello 2.0\n", "sync brought the parent's new package"
