"""os-release parsing: the fields of a root's /etc/os-release and the ids a plugin claims it by."""

from __future__ import annotations

from pathlib import Path

import pytest

from ashcore.fs import osrelease

#: As Debian 12, Linux Mint 21 and Arch ship them (shortened).
DEBIAN = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
MINT = 'NAME="Linux Mint"\nVERSION="21.3 (Virginia)"\nID=linuxmint\nID_LIKE="ubuntu debian"\nUBUNTU_CODENAME=jammy\n'
ARCH = 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\nLOGO=archlinux-logo\n'


def root_with(tmp_path: Path, text: str, rel: str = "etc/os-release") -> Path:
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(text)
    return tmp_path


def test_read_unquotes_the_values(tmp_path):
    fields = osrelease.read(root_with(tmp_path, DEBIAN))
    assert fields["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert (fields["ID"], fields["VERSION_CODENAME"], fields["HOME_URL"]) == (
        "debian",
        "bookworm",
        "https://www.debian.org/",
    )


@pytest.mark.parametrize(
    "text, ids",
    [
        (DEBIAN, ["debian"]),
        (MINT, ["linuxmint", "ubuntu", "debian"]),
        (ARCH, ["arch"]),
        ("ID=ubuntu\nID_LIKE=debian\n", ["ubuntu", "debian"]),
        ("ID=debian\nID_LIKE='debian'\n", ["debian"]),
        ('ID_LIKE="arch"\n', ["arch"]),
        ("ID=\n", []),
        ("NAME=nothing\n", []),
    ],
)
def test_distro_ids_are_the_id_then_the_id_like_entries(tmp_path, text, ids):
    assert osrelease.distro_ids(root_with(tmp_path, text)) == ids


@pytest.mark.parametrize(
    "line, value",
    [
        ("NAME='Single Quoted'", "Single Quoted"),
        ('NAME="Say \\"hi\\""', 'Say "hi"'),
        ("NAME=plain", "plain"),
        ('NAME="unbalanced', "unbalanced"),
        ('NAME="x" # a comment', "x"),
        ("  NAME = spaced", "spaced"),
    ],
)
def test_read_takes_shell_quoting_and_survives_bad_quotes(tmp_path, line, value):
    assert osrelease.read(root_with(tmp_path, f"# a comment\n\n{line}\n"))["NAME"] == value


def test_comment_lines_and_lines_without_equals_are_ignored(tmp_path):
    assert osrelease.read(root_with(tmp_path, "#ID=fedora\nnot a field\nID=arch\n")) == {"ID": "arch"}


def test_usr_lib_os_release_serves_when_etc_has_none(tmp_path):
    assert osrelease.distro_ids(root_with(tmp_path, ARCH, "usr/lib/os-release")) == ["arch"]


def test_etc_os_release_as_an_absolute_link_is_read_inside_the_root(tmp_path):
    root = root_with(tmp_path, MINT, "usr/lib/os-release")
    (root / "etc").mkdir()
    (root / "etc/os-release").symlink_to("/usr/lib/os-release")
    assert osrelease.distro_ids(root) == ["linuxmint", "ubuntu", "debian"]


@pytest.mark.parametrize("make", ["nothing", "directory", "loop"])
def test_a_root_without_a_readable_os_release_has_no_fields(tmp_path, make):
    (tmp_path / "etc").mkdir()
    if make == "directory":
        (tmp_path / "etc/os-release").mkdir()
    elif make == "loop":
        (tmp_path / "etc/os-release").symlink_to("os-release")
    assert (osrelease.read(tmp_path), osrelease.distro_ids(tmp_path)) == ({}, [])
