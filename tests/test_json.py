"""docs/json.md is the contract of ash's JSON interface: each command's real document has exactly the
fields, nesting and types of the example there. The store is a deployed one (ash-grub) whose packages
the test package manager keeps (ash_testing.plugins.TPM, a stand-in: the shapes are the core's),
after one automatic update, so that no document is empty where the example has content."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ash_testing.plugins import TPM, env_with, make_plugin, pip_install

PAGE = (Path(__file__).resolve().parents[1] / "docs/json.md").read_text()
DOCUMENTS = dict(re.findall(r"^## `ash ([^`]+)`\n.*?^```json\n(.*?)^```", PAGE, re.M | re.S))


def shape_errors(example, actual, where: str = "") -> list[str]:
    """Where ``actual`` differs from ``example`` in fields, nesting or JSON types (``null`` on
    either side matches any type: a field that may be none)."""
    if example is None or actual is None:
        return []
    if type(example) is not type(actual) and not {type(example), type(actual)} <= {int, float}:
        return [f"{where or '.'}: {type(actual).__name__}, documented {type(example).__name__}"]
    if isinstance(example, dict):
        errors = [f"{where}.{k}: not documented" for k in actual.keys() - example.keys()]
        errors += [f"{where}.{k}: missing" for k in example.keys() - actual.keys()]
        for key in example.keys() & actual.keys():
            errors += shape_errors(example[key], actual[key], f"{where}.{key}")
        return errors
    if isinstance(example, list) and example and actual:
        return [e for item in actual for e in shape_errors(example[0], item, f"{where}[]")]
    return []


def test_the_page_documents_every_looking_command():
    assert set(DOCUMENTS) == {
        "tree --json",
        "current --json",
        "show <snapshot> --json",
        "list <snapshot> --json",
        "diff <old> <new> --json",
        "plugins --json",
        "status --json",
    }


@pytest.fixture
def tpm_system(system, tmp_path, plugin_site):
    """1 with hello and world deployed, then 2 its automatic update (hello 2.0), deployed."""
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    env = env_with(plugin_site)

    def ash(*args, **kw):
        return system(*args, env=env, **kw)

    ash("clone", "0")
    ash("install", "1", "hello", "world")
    ash("deploy", "1")
    ash("auto-upgrade")
    return ash


def test_each_document_has_the_documented_shape(tpm_system):
    """Every command of the page on the same store (one store: each costs a deploy and an update)."""
    errors = {}
    for command, documented in sorted(DOCUMENTS.items()):
        args = command.replace("<snapshot>", "1").replace("<old> <new>", "0 2").split()
        actual = json.loads(tpm_system(*args).stdout)
        if found := shape_errors(json.loads(documented), actual):
            errors[command] = (found, actual)
    assert errors == {}, json.dumps(errors, indent=1)


def test_shape_errors_finds_what_differs():
    assert shape_errors({"a": 1, "b": [{"c": "x"}]}, {"a": 2, "b": [{"c": "y"}]}) == []
    assert shape_errors({"a": 1}, {"a": "1", "z": 0}) == [".z: not documented", ".a: str, documented int"]
    assert shape_errors({"b": [{"c": "x"}]}, {"b": [{}]}) == [".b[].c: missing"]
