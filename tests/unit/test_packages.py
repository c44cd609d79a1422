"""Package names ash passes to a package manager, and the comparisons behind diff and sync."""

from __future__ import annotations

import pytest

from ashcore.errors import UsageError
from ashcore.hooks.records import Package
from ashcore.ops.packages import Diff, check_names, diff, missing_from


@pytest.mark.parametrize("names", [["fooapp"], ["g++", "libc6:i386", "fooapp=1.0-1", "linux-image-6.1.0-18-amd64"], []])
def test_check_names_accepts_package_names_and_returns_them(names):
    assert check_names(names) == names


@pytest.mark.parametrize(
    "name", ["", "-y", "--option=Dir::Etc::sourcelist=/x", "foo bar", "foo\tbar", "foo\ntouch /x", "foo\x00", "foo\x7f"]
)
def test_check_names_refuses_what_a_package_manager_could_take_for_an_option_or_two_words(name):
    with pytest.raises(UsageError, match="invalid package name"):
        check_names(["fooapp", name])


OLD = [
    Package("bash", "5.2.15-2"),
    Package("libfoo", "1.0", explicit=False),
    Package("tzdata", "2024a-0"),
    Package("vim", "9.0.1378-2"),
]
NEW = [
    Package("vim", "9.0.1378-2"),
    Package("libfoo", "2.0", explicit=False),
    Package("bash", "5.2.15-2", explicit=False),
    Package("nginx", "1.22.1-9"),
    Package("curl", "7.88.1-10"),
]


def test_diff_lists_added_removed_and_changed_versions_by_name():
    assert diff(OLD, NEW) == Diff(
        added=[Package("curl", "7.88.1-10"), Package("nginx", "1.22.1-9")],
        removed=[Package("tzdata", "2024a-0")],
        changed=[(Package("libfoo", "1.0", explicit=False), Package("libfoo", "2.0", explicit=False))],
    )


def test_diff_of_the_same_versions_is_empty_even_if_the_reason_changed():
    assert diff(OLD, [Package(p.name, p.version, explicit=not p.explicit) for p in OLD]) == Diff([], [], [])


def test_diff_json_gives_the_versions_changed_from_and_to():
    assert diff(OLD, NEW).to_json() == {
        "added": [
            {"name": "curl", "version": "7.88.1-10", "explicit": True},
            {"name": "nginx", "version": "1.22.1-9", "explicit": True},
        ],
        "removed": [{"name": "tzdata", "version": "2024a-0", "explicit": True}],
        "changed": [{"name": "libfoo", "from": "1.0", "to": "2.0"}],
        "profiles": {"added": [], "removed": []},
    }


def test_diff_names_the_profiles_one_side_has_in_the_order_installed():
    d = diff(OLD, OLD, ["server", "gnome"], ["gnome", "i3", "xfce"])
    assert (d.added, d.removed, d.changed) == ([], [], [])
    assert d.to_json()["profiles"] == {"added": ["i3", "xfce"], "removed": ["server"]}


def test_missing_from_is_what_the_parent_chose_and_the_child_lacks_entirely():
    parent = [Package("nginx", "1.22.1-9"), Package("libssl3", "3.0.11-1", explicit=False), Package("vim", "9.0")]
    child = [Package("vim", "8.2", explicit=False)]  # another version, and only as a dependency: it has vim
    assert missing_from(parent, child) == [Package("nginx", "1.22.1-9")]


def test_missing_from_keeps_the_parent_order_and_versions():
    parent = [Package("zsh", "5.9-4"), Package("curl", "7.88.1-10"), Package("bash", "5.2.15-2")]
    assert missing_from(parent, [Package("bash", "5.1")]) == parent[:2]
