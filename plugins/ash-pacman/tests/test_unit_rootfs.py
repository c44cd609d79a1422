"""pacman's configuration and local database read straight from a root in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from ash_pacman import rootfs
from ash_pacman.rootfs import CONFIG, DEFAULTS

from ashcore.api import AshError, Package

#: Arch's stock pacman.conf, shortened (its path options are commented out, at their defaults).
STOCK = """\
#
# /etc/pacman.conf
#
[options]
# The following paths are commented out with their default values listed.
# If you wish to use different paths, uncomment and update the paths.
#RootDir     = /
#DBPath      = /var/lib/pacman/
#CacheDir    = /var/cache/pacman/pkg/
#LogFile     = /var/log/pacman.log
#GPGDir      = /etc/pacman.d/gnupg/
#HookDir     = /etc/pacman.d/hooks/
HoldPkg     = pacman glibc
Architecture = auto
CheckSpace
ParallelDownloads = 5
SigLevel    = Required DatabaseOptional

[core]
Include = /etc/pacman.d/mirrorlist

[extra]
Include = /etc/pacman.d/mirrorlist
"""


def write(root: Path, rel: str, text: str) -> Path:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    return root / rel


def test_options_of_the_stock_file_are_pacman_defaults(tmp_path):
    assert rootfs.options(write(tmp_path, CONFIG, STOCK)) == DEFAULTS


def test_options_of_a_missing_file_are_pacman_defaults(tmp_path):
    assert rootfs.options(tmp_path / "none.conf") == DEFAULTS


def test_options_takes_the_first_value_of_each_path_option_in_options_only(tmp_path):
    config = write(
        tmp_path,
        CONFIG,
        "[options]\nDBPath=/srv/pacman/\nDBPath = /second/\n  GPGDir =  /etc/keys/  \n"
        "[core]\nCacheDir = /not/options/\nInclude = /etc/pacman.d/mirrorlist\n",
    )
    assert rootfs.options(config) == {**DEFAULTS, "DBPath": "/srv/pacman/", "GPGDir": "/etc/keys/"}


def test_cache_and_hook_dirs_are_lists_of_which_the_first_is_taken(tmp_path):
    """pacman splits CacheDir and HookDir at spaces, and not the other paths: for this file
    pacman-conf prints "CacheDir = /srv/cache/" then "CacheDir = /var/cache/pacman/pkg/", and
    "DBPath = /srv/pacman db/"."""
    config = write(
        tmp_path,
        CONFIG,
        "[options]\nCacheDir = /srv/cache/ /var/cache/pacman/pkg/\n"
        "HookDir = /etc/hooks/   /usr/share/hooks/\nDBPath = /srv/pacman db/\n",
    )
    assert rootfs.options(config) == {
        **DEFAULTS,
        "CacheDir": "/srv/cache/",
        "HookDir": "/etc/hooks/",
        "DBPath": "/srv/pacman db/",
    }


def test_db_path_is_where_the_root_config_says_inside_the_root(tmp_path):
    write(tmp_path, CONFIG, "[options]\nDBPath = /srv/pacman/\n")
    assert rootfs.db_path(tmp_path) == tmp_path / "srv/pacman"
    assert rootfs.db_path(tmp_path / "no-config") == tmp_path / "no-config/var/lib/pacman"


@pytest.mark.parametrize("names, has", [(["core.db", "extra.db"], True), (["core.db.sig"], False), ([], False)])
def test_has_sync_databases_looks_for_fetched_repository_databases(tmp_path, names, has):
    (tmp_path / "var/lib/pacman/sync").mkdir(parents=True)
    for name in names:
        (tmp_path / "var/lib/pacman/sync" / name).write_text("")
    assert rootfs.has_sync_databases(tmp_path) is has


def test_rerooted_takes_each_include_inside_the_root_and_keeps_every_other_line(tmp_path):
    root = tmp_path / "root"
    config = write(
        root, CONFIG, STOCK + "#Include = /etc/pacman.d/commented\n[test]\nInclude=/etc/pacman.d/test-repo.conf\n"
    )
    (root / "usr/share/pacman.d").mkdir(parents=True)
    (root / "etc/pacman.d").symlink_to("/usr/share/pacman.d")  # the root's own link
    lines = rootfs.rerooted(config, root).splitlines()
    assert [line for line in lines if "Include" in line] == [
        f"Include = {root}/usr/share/pacman.d/mirrorlist",
        f"Include = {root}/usr/share/pacman.d/mirrorlist",
        "#Include = /etc/pacman.d/commented",
        f"Include = {root}/usr/share/pacman.d/test-repo.conf",
    ]
    assert [line for line in lines if "Include" not in line] == [
        line for line in config.read_text().splitlines() if "Include" not in line
    ]


#: A local database entry as pacman writes it (dependencies, licenses: several lines each).
GLIBC_DESC = """\
%NAME%
glibc

%VERSION%
2.39-1

%BASE%
glibc

%DESC%
GNU C Library

%ARCH%
x86_64

%LICENSE%
GPL-2.0-or-later
LGPL-2.1-or-later

%REASON%
1

%VALIDATION%
pgp

%DEPENDS%
linux-api-headers>=4.10
tzdata
filesystem

"""


def test_desc_fields_take_the_first_value_line():
    fields = rootfs._desc(GLIBC_DESC)
    assert (fields["NAME"], fields["VERSION"], fields["LICENSE"], fields["DEPENDS"]) == (
        "glibc",
        "2.39-1",
        "GPL-2.0-or-later",
        "linux-api-headers>=4.10",
    )
    assert set(fields) == {"NAME", "VERSION", "BASE", "DESC", "ARCH", "LICENSE", "REASON", "VALIDATION", "DEPENDS"}


def test_installed_reads_the_local_database_and_reasons(tmp_path):
    local = tmp_path / "var/lib/pacman/local"
    write(tmp_path, "var/lib/pacman/local/glibc-2.39-1/desc", GLIBC_DESC)
    write(tmp_path, "var/lib/pacman/local/vim-9.1.0-1/desc", "%NAME%\nvim\n\n%VERSION%\n9.1.0-1\n\n%ARCH%\nx86_64\n")
    write(tmp_path, "var/lib/pacman/local/ALPM_DB_VERSION", "9\n")
    (local / "half-written-1").mkdir()  # no desc: not a package
    assert rootfs.installed(tmp_path) == [
        Package("glibc", "2.39-1", explicit=False),
        Package("vim", "9.1.0-1", explicit=True),
    ]


def test_installed_of_a_root_without_database_is_an_error(tmp_path):
    with pytest.raises(AshError, match="has no pacman database"):
        rootfs.installed(tmp_path)
