"""The profile format: every shipped profile loads and plans on every distribution it names, and a
file that is wrong is refused with one line naming the file, the key and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from ash_profiles.catalog import OPENRC, SHIPPED, SYSTEMD, Catalog, collect, plan
from ash_profiles.model import Profile, ProfileError, load

from ashcore.api import AshError

SHIPPED_NAMES = {"gnome", "kde", "xfce", "sway", "i3", "server", "minimal-desktop"}


def test_the_shipped_profiles_are_all_there_and_valid():
    catalog = collect(Path("/nonexistent"), [])
    assert catalog.problems == [] and catalog.clashes == {}
    assert set(catalog.profiles) == SHIPPED_NAMES
    for profile in catalog.profiles.values():
        assert {"debian", "arch", "gentoo"} <= set(profile.distros), profile.name
        assert profile.description and profile.source.startswith("ash-profiles (")
        if profile.name != "server":  # a server keeps the snapshot's portage profile
            assert (profile.portage_profile or "").startswith("default/linux/amd64/23.0/desktop"), profile.name
        for other in (*profile.conflicts, *profile.requires):
            assert other in catalog.profiles, f"{profile.name} names an unknown profile {other}"


@pytest.mark.parametrize("name", sorted(SHIPPED_NAMES))
def test_every_shipped_profile_plans_on_each_distro_and_derivative(name: str):
    profile = load(SHIPPED / f"{name}.toml")
    debian = plan(profile, ["debian"], SYSTEMD)
    assert debian.packages == profile.packages["debian"] and debian.family == "debian"
    assert plan(profile, ["ubuntu", "debian"], SYSTEMD).packages == debian.packages
    assert plan(profile, ["linuxmint", "ubuntu", "debian"], SYSTEMD).family == "debian"
    assert plan(profile, ["endeavouros"], SYSTEMD).packages == profile.packages["arch"]  # no ID_LIKE needed
    gentoo = plan(profile, ["gentoo"], OPENRC)
    assert all("/" in atom for atom in gentoo.packages) and gentoo.portage_profile == profile.portage_profile
    if profile.default_target == "graphical.target":  # a display manager: OpenRC's display-manager
        assert "display-manager" in gentoo.services
    assert all(not s.endswith(".service") for s in gentoo.services) and gentoo.default_target is None
    assert plan(profile, ["debian"], SYSTEMD).portage_profile is None


def test_the_server_profile_uses_each_distros_unit_names():
    server = load(SHIPPED / "server.toml")
    assert plan(server, ["debian"], SYSTEMD).services == ("ssh.service", "chrony.service")
    assert plan(server, ["ubuntu", "debian"], SYSTEMD).services == ("ssh.service", "chrony.service")
    assert plan(server, ["arch"], SYSTEMD).services == ("sshd.service", "chronyd.service")
    assert plan(server, ["gentoo"], SYSTEMD).services == ("sshd.service", "chronyd.service")
    assert plan(server, ["gentoo"], OPENRC).services == ("sshd", "chronyd")


def test_a_distro_the_profile_lacks_is_refused_naming_what_it_has():
    with pytest.raises(AshError, match=r"profile 'server' has nothing for distribution 'fedora' \(it has arch, debian"):
        plan(load(SHIPPED / "server.toml"), ["fedora"], SYSTEMD)


def test_a_profiles_own_families_table_adds_derivatives():
    profile = _parse(
        '[profile]\nname = "p"\n[families]\nmyos = "ubuntu"\n[packages]\ndebian = ["a"]\n'
        '[post]\ncommands_by_distro = { myos = ["echo mine"] }\n'
    )
    steps = plan(profile, ["myos"], SYSTEMD)
    assert steps.family == "debian" and steps.post == ("echo mine",)
    assert plan(profile, ["debian"], SYSTEMD).post == ()


BAD = [
    ("[profile\n", "is not valid TOML"),
    ("[packages]\ndebian = ['a']\n", "profile: is missing"),
    ("[profile]\nname = 'x'\n[packages]\ndebian = ['a']\n", "profile.name: is 'x', but the file is named p.toml"),
    ("[profile]\nname = 'p'\n", "packages: is missing"),
    ("[profile]\nname = 'p'\n[packages]\n", "packages: lists no distribution"),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = 'a b'\n",
        "packages.debian: expected a list of strings, got a string",
    ),
    ("[profile]\nname = 'p'\n[packages]\ndebian = ['a', 3]\n", "packages.debian[1]: expected a string, got a number"),
    ("[profile]\nname = 'p'\n[packages]\ndebian = ['-y']\n", "packages.debian[0]: '-y' is not a package name"),
    ("[profile]\nname = 'p'\n[packages]\ndebian = ['a b']\n", "packages.debian[0]: 'a b' is not a package name"),
    ("[profile]\nname = 'p'\n[packages]\ndebian = []\n", "packages.debian: is empty"),
    ("[profile]\nname = 'p'\n[packages]\ndebian = ['a', 'a']\n", "packages.debian: lists 'a' twice"),
    ("[profile]\nname = 'p'\n[packages]\nDeb-ian = ['a']\n", "packages.Deb-ian: 'Deb-ian' is not an os-release ID"),
    ("[profile]\nname = 'p'\nconflict = []\n[packages]\ndebian = ['a']\n", "profile.conflict: unknown key"),
    ("[profile]\nname = 'p'\n[pkgs]\n[packages]\ndebian = ['a']\n", "pkgs: unknown key"),
    (
        "[profile]\nname = 'p'\nrequires = ['p']\n[packages]\ndebian = ['a']\n",
        "profile.requires: names the profile itself",
    ),
    (
        "[profile]\nname = 'p'\nrequires = ['q']\nconflicts = ['q']\n[packages]\ndebian = ['a']\n",
        "profile.requires: 'q' is also in profile.conflicts",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n[services]\nenable = ['ssh']\n",
        "services.enable[0]: 'ssh' is not a systemd unit name (like ssh.service)",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n[services]\ndefault_target = 'graphical'\n",
        "services.default_target: 'graphical' is not a systemd target",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n[services.enable_by_distro]\narch = ['x.service']\n",
        "services.enable_by_distro.arch: the profile has no packages for 'arch'",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n[post]\ncommands = ['  ']\n",
        "post.commands[0]: expected a shell command, got '  '",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n[gentoo]\nprofile = 'default/linux'\n",
        "gentoo.profile: is set, but packages.gentoo is not",
    ),
    (
        "[profile]\nname = 'p'\n[packages]\ngentoo = ['a/b']\n[gentoo]\nprofile = '../../../etc'\n",
        "gentoo.profile: '../../../etc' is not a portage profile path",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_wrong_file_is_refused_in_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: ") and message in line and "\n" not in line, line


def test_a_clash_names_both_sources_and_refuses_the_name(tmp_path: Path):
    catalog = Catalog()
    text = "[profile]\nname = 'p'\n[packages]\ndebian = ['a']\n"
    catalog.add(_parse(text, "first.toml"))
    catalog.add(_parse(text, "second.toml"))
    with pytest.raises(AshError, match="profile 'p' is defined by first.toml and by second.toml"):
        catalog.get("p")
    with pytest.raises(AshError, match=r"no profile named 'q' \(known: none\)"):
        catalog.get("q")


def _parse(text: str, source: str = "p.toml") -> Profile:
    import tomllib

    from ash_profiles.model import parse

    return parse(tomllib.loads(text), source)
