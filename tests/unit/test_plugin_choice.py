"""Which plugin manages a snapshot, and which plugin a hook goes to: a real pluggy plugin manager
with ash's hook specs, and small plugins registered on it as ash registers the installed ones."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from ashcore import PROJECT
from ashcore.errors import AshError
from ashcore.hooks import specs
from ashcore.hooks.manager import Plugins, is_first_party
from ashcore.hooks.records import CommandSpec, Package, PackageManagerInfo
from ashcore.hooks.specs import hookimpl


class PackageManager:
    """A package-manager plugin claiming ``distros``, whose ash_list_packages answers ``packages``."""

    def __init__(self, name: str, *distros: str, state_paths: tuple[str, ...] = (), packages: tuple[str, ...] = ()):
        self.info = PackageManagerInfo(name=name, distros=distros, state_paths=state_paths)
        self.packages = [Package(p, "1.0") for p in packages]

    @hookimpl
    def ash_package_manager(self) -> PackageManagerInfo:
        return self.info

    @hookimpl
    def ash_list_packages(self, root: Path) -> list[Package]:
        return self.packages


class Broken:
    @hookimpl
    def ash_package_manager(self) -> PackageManagerInfo:
        raise RuntimeError("cannot read its configuration")


class Bootloader:
    @hookimpl
    def ash_bootloader_update(self, context) -> None:
        pass


class Commands:
    """A plugin offering commands ``names``, each with a target ``module:name`` of its own."""

    def __init__(self, module: str, *names: str):
        self.module, self.names = module, names

    @hookimpl
    def ash_commands(self) -> list[CommandSpec]:
        if not self.names:
            raise ValueError("no commands today")
        return [CommandSpec(name, f"{name} help", f"{self.module}:{name}") for name in self.names]


def plugins(**registered: object) -> Plugins:
    """The plugins as Plugins.load() makes them, from ``name=plugin`` in registration order."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(specs)
    for name, plugin in registered.items():
        pm.register(plugin, name=name)
    pm.check_pending()
    return Plugins(pm, [])


DEBIAN_AND_ARCH = {"apt": PackageManager("apt", "debian", "ubuntu"), "pacman": PackageManager("pacman", "arch")}


@pytest.mark.parametrize(
    "ids, chosen",
    [
        (["debian"], "apt"),
        (["arch"], "pacman"),
        (["linuxmint", "ubuntu", "debian"], "apt"),
        (["endeavouros", "arch"], "pacman"),
    ],
)
def test_the_one_plugin_claiming_the_id_or_else_an_id_like_is_chosen(ids, chosen):
    assert plugins(**DEBIAN_AND_ARCH).package_manager_for(ids) == chosen


def test_the_id_wins_over_id_like():
    found = plugins(**DEBIAN_AND_ARCH, manjaro=PackageManager("pamac", "manjaro"))
    assert found.package_manager_for(["manjaro", "arch"]) == "manjaro"


def test_two_plugins_claiming_a_distribution_is_an_error_even_if_an_id_like_is_unambiguous():
    found = plugins(**DEBIAN_AND_ARCH, apt2=PackageManager("apt", "ubuntu"))
    with pytest.raises(AshError, match=r"^plugins apt and apt2 both claim distribution 'ubuntu'$") as refused:
        found.package_manager_for(["ubuntu", "debian"])
    assert refused.value.hint == "disable all but one, e.g. ASH_DISABLED_PLUGINS=apt2"


@pytest.mark.parametrize(
    "registered, ids, message",
    [
        (
            DEBIAN_AND_ARCH,
            ["gentoo"],
            "no plugin manages distribution 'gentoo' (considered: apt (debian, ubuntu); pacman (arch))",
        ),
        ({}, ["debian"], "no plugin manages distribution 'debian' (considered: none installed)"),
        (
            DEBIAN_AND_ARCH,
            [],
            "no plugin manages a snapshot without /etc/os-release (considered: apt (debian, ubuntu); pacman (arch))",
        ),
    ],
    ids=["unclaimed", "no-plugins", "no-os-release"],
)
def test_no_plugin_for_the_distribution_says_what_was_considered(registered, ids, message):
    with pytest.raises(AshError) as refused:
        plugins(**registered).package_manager_for(ids)
    assert refused.value.message == message


def test_a_plugin_that_fails_to_describe_itself_is_skipped_with_a_warning(capsys):
    found = plugins(broken=Broken(), **DEBIAN_AND_ARCH)
    assert found.package_manager_for(["arch"]) == "pacman"
    assert capsys.readouterr().err == (
        "ash: warning: plugin 'broken' failed to describe its package manager"
        " (cannot read its configuration); skipped\n"
    )


@pytest.mark.parametrize(
    "os_release, fallback, chosen", [("ID=ubuntu\nID_LIKE=debian\n", "arch", "apt"), (None, "arch", "pacman")]
)
def test_package_manager_of_a_root_reads_its_os_release_else_the_fallback(tmp_path, os_release, fallback, chosen):
    if os_release is not None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/os-release").write_text(os_release)
    assert plugins(**DEBIAN_AND_ARCH).package_manager_of(tmp_path, fallback) == chosen


def test_package_manager_or_none_is_none_when_no_plugin_manages_the_root(tmp_path):
    assert plugins(**DEBIAN_AND_ARCH).package_manager_or_none(tmp_path) is None


def test_state_paths_are_those_of_the_chosen_plugin():
    found = plugins(apt=PackageManager("apt", "debian", state_paths=("var/lib/dpkg", "var/lib/apt")))
    assert (found.state_paths("apt"), found.state_paths(None)) == (("var/lib/dpkg", "var/lib/apt"), ())


def test_a_package_hook_goes_to_the_chosen_plugin_only(tmp_path):
    found = plugins(
        apt=PackageManager("apt", "debian", packages=("dpkg",)),
        pacman=PackageManager("pacman", "arch", packages=("glibc",)),
    )
    assert [p.name for p in found.list_packages("apt", tmp_path)] == ["dpkg"]
    assert [p.name for p in found.list_packages("pacman", tmp_path)] == ["glibc"]


def test_a_package_hook_the_chosen_plugin_lacks_is_an_error(tmp_path):
    with pytest.raises(AshError, match="^the apt plugin cannot install$"):
        plugins(**DEBIAN_AND_ARCH).install("apt", None, ["vim"])


@pytest.mark.parametrize(
    "registered, message",
    [
        ({}, "a deploy needs exactly one bootloader plugin, found none"),
        (
            {"grub": Bootloader(), "refind": Bootloader()},
            "a deploy needs exactly one bootloader plugin, found grub, refind",
        ),
    ],
)
def test_a_deploy_needs_exactly_one_bootloader_plugin(registered, message):
    with pytest.raises(AshError) as refused:
        plugins(**registered).require_bootloader()
    assert refused.value.message == message


def test_one_bootloader_plugin_is_enough():
    plugins(grub=Bootloader(), **DEBIAN_AND_ARCH).require_bootloader()


def test_plugin_commands_clashing_with_built_ins_are_ignored_and_a_failing_plugin_is_skipped(capsys):
    found = plugins(mine=Commands("mine", "hello", "install"), broken=Commands("broken"))
    assert {name: spec.target for name, spec in found.commands({"install", "list"}).items()} == {"hello": "mine:hello"}
    assert sorted(capsys.readouterr().err.splitlines()) == [
        "ash: warning: plugin 'broken' failed to list its commands (no commands today); skipped",
        "ash: warning: plugin 'mine' command 'install' clashes with a built-in command; ignored",
    ]


def test_of_two_plugins_offering_a_command_one_keeps_it_and_the_other_is_warned(capsys):
    found = plugins(first=Commands("first", "hello"), second=Commands("second", "hello", "fixdb")).commands(set())
    assert sorted(found) == ["fixdb", "hello"]
    winner = found["hello"].target.partition(":")[0]
    loser = ({"first", "second"} - {winner}).pop()
    assert (
        capsys.readouterr().err
        == f"ash: warning: plugin '{loser}' command 'hello' clashes with plugin '{winner}'; ignored\n"
    )


@pytest.mark.parametrize(
    "module, distribution, first",
    [
        ("ash_apt.plugin", "ash-apt", True),
        ("ash_grub.plugin:hooks", "ash_grub", True),
        ("ash_pacman", "Ash-Pacman", True),
        ("ash_apt.plugin", "ash-apt-fork", False),
        ("ash_apt.plugin", "evil", False),
        ("evil.plugin", "ash-apt", False),
        ("ash_aptx.plugin", "ash-apt", False),
        ("ash_pacman.plugin", "ash-apt", False),
    ],
)
def test_first_party_is_one_of_ash_packages_from_the_distribution_that_ships_it(module, distribution, first):
    assert is_first_party(module, distribution) is first
