"""dpkg's status file and apt's extended_states read straight from a root in tmp_path. The
stanzas are cut from a Debian 12 system's files (long fields shortened)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ash_apt import dpkgdb

from ashcore.api import AshError, Package

STATUS = """\
Package: dpkg
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Maintainer: Dpkg Developers <debian-dpkg@lists.debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 1.21.22
Conffiles:
 /etc/alternatives/README 7be88b21f7e386c8d5a8790c2461c92b
 /etc/dpkg/dpkg.cfg f4413ffb515f8f753624ae3bb365b81b
Description: Debian package management system
 This package provides the low-level infrastructure for handling the
 installation and removal of Debian software packages.
 .
 For Debian package development tools, install dpkg-dev.
Homepage: https://wiki.debian.org/Teams/Dpkg

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: libpam-runtime
Status: install ok installed
Architecture: all
Version: 1.5.2-6+deb12u1
Description: Runtime support for the PAM library

Package: vim
Status: hold ok installed
Architecture: amd64
Version: 2:9.0.1378-2
Description: Vi IMproved - enhanced vi editor

Package: nginx-common
Status: deinstall ok config-files
Architecture: all
Version: 1.22.1-9
Conffiles:
 /etc/nginx/nginx.conf 2a3a5ad7e5bd2c0ca1f3e0c4ab0a7e6b

Package: failpkg
Status: install ok half-configured
Architecture: all
Version: 1.0

Package: clash
Status: install ok not-installed
Architecture: all
"""
#: apt lists Architecture: all packages under the native architecture.
EXTENDED_STATES = """\
Package: libc6
Architecture: amd64
Auto-Installed: 1

Package: libc6
Architecture: i386
Auto-Installed: 1

Package: libpam-runtime
Architecture: amd64
Auto-Installed: 1

Package: vim
Architecture: amd64
Auto-Installed: 0
"""


def root_with(tmp_path: Path, status: str | None = STATUS, states: str | None = EXTENDED_STATES) -> Path:
    for rel, text in ((dpkgdb.STATUS, status), (dpkgdb.EXTENDED_STATES, states)):
        if text is not None:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
    return tmp_path


def test_installed_lists_installed_packages_with_their_versions_and_reasons(tmp_path):
    assert dpkgdb.installed(root_with(tmp_path)) == [
        Package("dpkg", "1.21.22", explicit=True),
        Package("libc6", "2.36-9+deb12u4", explicit=False),
        Package("libc6:i386", "2.36-9+deb12u4", explicit=False),
        Package("libpam-runtime", "1.5.2-6+deb12u1", explicit=False),
        Package("vim", "2:9.0.1378-2", explicit=True),
    ]


def test_without_extended_states_every_package_was_chosen(tmp_path):
    assert all(p.explicit for p in dpkgdb.installed(root_with(tmp_path, states=None)))


def test_a_root_without_dpkg_database_is_an_error(tmp_path):
    with pytest.raises(AshError, match="has no dpkg database"):
        dpkgdb.installed(root_with(tmp_path, status=None))


def test_the_database_is_read_where_the_root_own_links_lead(tmp_path):
    (tmp_path / "srv/dpkg").mkdir(parents=True)
    (tmp_path / "srv/dpkg/status").write_text(STATUS)
    (tmp_path / "var/lib").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg").symlink_to("/srv/dpkg")  # the root's /srv, not the host's
    assert [p.name for p in dpkgdb.installed(tmp_path)] == ["dpkg", "libc6", "libc6:i386", "libpam-runtime", "vim"]


def test_paragraphs_keep_first_lines_and_skip_continuations():
    first = next(dpkgdb.paragraphs(STATUS))
    assert first["Conffiles"] == "" and first["Description"] == "Debian package management system"
    assert not any(key.startswith((" ", "/")) for key in first)


def test_paragraphs_skip_empty_stanzas():
    assert list(dpkgdb.paragraphs("\n\nPackage: a\n\n\n\nPackage: b\n\n")) == [{"Package": "a"}, {"Package": "b"}]
