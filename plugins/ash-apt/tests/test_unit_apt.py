"""The apt plugin's pure logic: the one line that says why apt or dpkg failed, and the checks of
what ash passes on apt's and debootstrap's command lines. The stderr texts are what apt 2.6 and
dpkg 1.21 (Debian 12) print, captured from real runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ash_apt import plugin
from ash_apt.plugin import _MIRROR, _PACKAGE, _WORD, _check, _has_indexes, _names, _reason

from ashcore.api import Chroot, UsageError

DPKG_POSTINST_FAILED = """\
failpkg: refusing to configure
dpkg: error processing package failpkg (--configure):
 installed failpkg package post-installation script subprocess returned error exit status 1
Errors were encountered while processing:
 failpkg
E: Sub-process /usr/bin/dpkg returned an error code (1)
"""
DPKG_FILE_CONFLICT = """\
dpkg: error processing archive /var/cache/apt/archives/clash_1.0_all.deb (--unpack):
 trying to overwrite '/usr/share/common/file', which is also in package toolc 1.0
Errors were encountered while processing:
 /var/cache/apt/archives/clash_1.0_all.deb
E: Sub-process /usr/bin/dpkg returned an error code (1)
"""
REFUSED = "Failed to fetch http://127.0.0.1:1/./InRelease  Could not connect to 127.0.0.1:1 (127.0.0.1)."
REFUSED += " - connect (111: Connection refused)"
UPDATE_FAILED = f"""\
E: {REFUSED}
E: Some index files failed to download. They have been ignored, or old ones used instead.
"""


@pytest.mark.parametrize(
    "stderr, reason",
    [
        (
            DPKG_POSTINST_FAILED,
            "error processing package failpkg (--configure): installed failpkg package post-installation script"
            " subprocess returned error exit status 1",
        ),
        (
            DPKG_FILE_CONFLICT,
            "error processing archive /var/cache/apt/archives/clash_1.0_all.deb (--unpack): trying to overwrite"
            " '/usr/share/common/file', which is also in package toolc 1.0",
        ),
        ("E: Unable to locate package nosuchpkg\n", "Unable to locate package nosuchpkg"),
        (
            "E: Unable to locate package nosuchpkg\nE: Unable to locate package otherpkg\n",
            "Unable to locate package nosuchpkg; Unable to locate package otherpkg",
        ),
        (
            UPDATE_FAILED,
            REFUSED,
        ),
        (
            "E: Unable to correct problems, you have held broken packages.\n",
            "Unable to correct problems, you have held broken packages.",
        ),
        (
            "E: Packages need to be removed but remove is disabled.\n",
            "Packages need to be removed but remove is disabled.",
        ),
        ("W: Some index files failed to download. They have been ignored, or old ones used instead.\n", None),
        ("", None),
    ],
    ids=[
        "postinst",
        "file-conflict",
        "unknown-package",
        "two-unknown-packages",
        "update",
        "unmet-dependencies",
        "no-remove",
        "only-warnings",
        "nothing",
    ],
)
def test_reason_is_dpkg_error_with_its_detail_else_apt_specific_errors(stderr, reason):
    assert _reason(stderr) == reason


def test_unmet_and_no_remove_reasons_are_those_apt_get_completes_from_a_dry_run():
    """apt_get() recognises them by these prefixes to add the list apt printed on stdout."""
    assert _reason("E: Unable to correct problems, you have held broken packages.\n").startswith(plugin._UNMET)
    assert _reason("E: Packages need to be removed but remove is disabled.\n").startswith(plugin._NO_REMOVE)


@pytest.mark.parametrize(
    "names",
    [
        ["fooapp"],
        ["libc6:i386"],
        ["fooapp=1.0-1", "libfoo=2:1.2.3~rc1+dfsg-1"],
        ["fooapp/bookworm-backports"],
        ["g++", "0ad"],
    ],
)
def test_names_accepts_package_names_with_apt_arch_version_and_release_forms(names):
    assert _names(names) == names


#: Shell and apt option injections, a path, and what Debian policy forbids as a name (capitals, one letter).
NOT_NAMES = [
    "foo;touch /pwned",
    "$(touch /pwned)",
    "`touch /pwned`",
    "x|touch${IFS}/pwned",
    "-o=APT::x",
    "--option=Dir::Etc::sourcelist=/pwned",
    "../../pwned.deb",
    "foo\ntouch /pwned",
    "Fooapp",
    "a",
    "",
]


@pytest.mark.parametrize("name", NOT_NAMES)
def test_names_refuses_anything_but_a_package_name(name):
    with pytest.raises(UsageError, match="^invalid package name"):
        _names(["fooapp", name])


def test_a_trailing_minus_is_refused_as_apt_would_read_it_as_remove():
    with pytest.raises(UsageError, match="apt would take its last character for an action"):
        _names(["fooapp-"])


@pytest.mark.parametrize("installed, refused", [({"g++"}, False), ({"gcc"}, True)])
def test_a_trailing_plus_in_a_removal_is_taken_only_for_an_installed_package(installed, refused):
    if refused:
        with pytest.raises(UsageError, match="apt would take its last character for an action"):
            _names(["g++"], installed=installed)
    else:
        assert _names(["g++"], installed=installed) == ["g++"]


@pytest.mark.parametrize(
    "what, pattern, value, ok",
    [
        ("release", _WORD, "bookworm", True),
        ("release", _WORD, "../bookworm", False),
        ("variant", _WORD, "minbase", True),
        ("variant", _WORD, "minbase --foreign", False),
        ("mirror", _MIRROR, "http://deb.debian.org/debian", True),
        ("mirror", _MIRROR, "file:/srv/mirror", True),
        ("mirror", _MIRROR, "deb.debian.org;touch /pwned", False),
        ("mirror", _MIRROR, "http://x/debian extra", False),
        ("package name", _PACKAGE, "hello", True),
        ("package name", _PACKAGE, "hello,evil", False),
    ],
)
def test_check_accepts_only_a_whole_match(what, pattern, value, ok):
    if ok:
        assert _check(value, pattern, what) == value
    else:
        with pytest.raises(UsageError, match=f"^{re.escape(f'invalid {what} {value!r}')}$") as refused:
            _check(value, pattern, what, hint="a hint")
        assert refused.value.hint == "a hint"


@pytest.mark.parametrize(
    "entries, has",
    [
        (["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", "lock", "partial"], True),
        (["127.0.0.1:8080_._Packages.lz4"], True),
        (["lock", "partial"], False),
        (None, False),
    ],
)
def test_has_indexes_looks_for_a_packages_file_in_the_lists(tmp_path, entries, has):
    if entries is not None:
        lists = tmp_path / "var/lib/apt/lists"
        lists.mkdir(parents=True)
        for name in entries:
            (lists / name).mkdir() if name == "partial" else (lists / name).write_text("")
    assert _has_indexes(tmp_path) is has


def chroot_of(root: Path, package_manager: str | None = "apt") -> Chroot:
    (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
    return Chroot(root=root, snapshot=1, package_manager=package_manager)


def test_chroot_enter_forbids_services_for_the_transaction_only(tmp_path):
    chroot = chroot_of(tmp_path)
    plugin.ash_chroot_enter(chroot)
    policy = tmp_path / plugin.POLICY_RC_D
    assert policy.read_text() == plugin.POLICY and policy.stat().st_mode & 0o777 == 0o755
    chroot.close()
    assert not policy.exists()


@pytest.mark.parametrize("package_manager, own", [("apt", "#!/bin/sh\nexit 0\n"), ("pacman", None)])
def test_chroot_enter_leaves_a_snapshot_own_policy_and_other_distributions_alone(tmp_path, package_manager, own):
    chroot = chroot_of(tmp_path, package_manager)
    policy = tmp_path / plugin.POLICY_RC_D
    if own is not None:
        policy.write_text(own)
    plugin.ash_chroot_enter(chroot)
    chroot.close()
    assert (policy.read_text() if policy.exists() else None) == own


def test_a_policy_the_command_wrote_meanwhile_is_kept(tmp_path):
    chroot = chroot_of(tmp_path)
    plugin.ash_chroot_enter(chroot)
    (tmp_path / plugin.POLICY_RC_D).write_text("#!/bin/sh\nexit 0\n")  # e.g. a package shipped one
    chroot.close()
    assert (tmp_path / plugin.POLICY_RC_D).read_text() == "#!/bin/sh\nexit 0\n"
