"""The pacman plugin's one-line failure reasons and its scriptlet check. The texts are what
pacman 6.0 prints (LC_ALL=C), captured from real runs on test packages; paths are as a pacman
in the snapshot's chroot prints them."""

from __future__ import annotations

import pytest
from ash_pacman.pacman import _reason, check_scriptlets

from ashcore.api import AshError

PREPARE_FAILED = "error: failed to prepare transaction (could not satisfy dependencies)\n"
REMOVE_BREAKS = """\
checking dependencies...
:: removing liba breaks dependency 'liba>=1.0' required by appb
"""
#: With --noconfirm pacman prints its questions on stdout and answers them itself: a reason
#: follows them, and the heading of a list is not one either.
MISSING_DEPENDENCY = """\
resolving dependencies...
:: The following package cannot be upgraded due to unresolvable dependencies:
      needsmissing

:: Do you want to skip the above package for this upgrade? [y/N] 
:: unable to satisfy dependency 'libmissing' required by needsmissing
"""  # noqa: W291 - pacman's prompt ends with a space
PACKAGE_CONFLICT = """\
:: Synchronizing package databases...
 test downloading...
resolving dependencies...
looking for conflicting packages...
:: redpkg and toolc are in conflict. Remove toolc? [y/N] 
:: redpkg and toolc are in conflict
"""  # noqa: W291
INSTALL_OUTPUT = """\
resolving dependencies...
looking for conflicting packages...

Packages (1) clash-1.0-1

Total Download Size:   0.00 MiB
Total Installed Size:  0.00 MiB

:: Proceed with installation? [Y/n] 
:: Retrieving packages...
 clash-1.0-1-any downloading...
"""  # noqa: W291 - pacman's prompt ends with a space
FILE_CONFLICT = (
    INSTALL_OUTPUT
    + """\
checking keyring...
checking package integrity...
loading package files...
checking for file conflicts...
clash: /usr/share/common/file exists in filesystem (owned by toolc)
Errors occurred, no packages were upgraded.
"""
)
DOWNLOAD_FAILED = """\
warning: no /var/cache/pacman/pkg/ cache exists, creating...
error: failed retrieving file 'clash-1.0-1-any.pkg.tar.gz' from 127.0.0.1:18123 : Maximum file size exceeded
warning: failed to retrieve some files
error: failed to commit transaction (download library error)
"""
LOCKED = """\
error: failed to init transaction (unable to lock database)
error: could not lock database: File exists
  if you're sure a package manager is not already
  running, you can remove /var/lib/pacman/db.lck
"""


@pytest.mark.parametrize(
    "stderr, stdout, reason",
    [
        ("error: target not found: nosuchpkg\n", "", "target not found: nosuchpkg"),
        (PREPARE_FAILED, REMOVE_BREAKS, "removing liba breaks dependency 'liba>=1.0' required by appb"),
        (PREPARE_FAILED, MISSING_DEPENDENCY, "unable to satisfy dependency 'libmissing' required by needsmissing"),
        (
            "error: unresolvable package conflicts detected\n"
            "error: failed to prepare transaction (conflicting dependencies)\n",
            PACKAGE_CONFLICT,
            "redpkg and toolc are in conflict",
        ),
        (
            PREPARE_FAILED,
            "checking dependencies...\n",
            "failed to prepare transaction (could not satisfy dependencies)",
        ),
        (
            "error: failed to commit transaction (conflicting files)\n",
            FILE_CONFLICT,
            "clash: /usr/share/common/file exists in filesystem (owned by toolc)",
        ),
        (
            DOWNLOAD_FAILED,
            INSTALL_OUTPUT + "Errors occurred, no packages were upgraded.\n",
            "failed retrieving file 'clash-1.0-1-any.pkg.tar.gz' from 127.0.0.1:18123 : Maximum file size exceeded",
        ),
        (
            "error: failed to commit transaction (conflicting files)\n",
            INSTALL_OUTPUT,
            "failed to commit transaction (conflicting files)",
        ),
        (LOCKED, "", "could not lock database: File exists"),
        ("error: invalid option '-x'\n", "", "invalid option '-x'"),
        ("", "resolving dependencies...\n", ""),
    ],
    ids=[
        "target-not-found",
        "remove-breaks-dependency",
        "missing-dependency",
        "package-conflict",
        "prepare-without-details",
        "file-conflict",
        "download",
        "commit-without-details",
        "locked",
        "invalid-option",
        "killed-before-a-word",
    ],
)
def test_reason_is_the_cause_pacman_gave_not_the_step_that_failed(stderr, stdout, reason):
    assert _reason(stderr, stdout) == reason


SCRIPTLET_FAILED = "call to execv failed (No such file or directory)\nerror: command failed to execute correctly\n"


@pytest.mark.parametrize("shell", ["file", "absolute-link", None])
def test_a_failed_scriptlet_is_an_error_although_pacman_exited_0(tmp_path, shell):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/busybox").write_text("")
    if shell == "file":
        (tmp_path / "bin/sh").write_text("")
    elif shell == "absolute-link":
        (tmp_path / "bin/sh").symlink_to("/bin/busybox")  # the root's busybox, whatever the host has
    with pytest.raises(AshError) as failed:
        check_scriptlets(tmp_path, SCRIPTLET_FAILED)
    expected = "the root has no /bin/sh" if shell is None else "install scriptlet or a pacman hook failed"
    assert expected in failed.value.message and "nothing was kept" in failed.value.hint


def test_no_failed_scriptlet_is_no_error(tmp_path):
    assert check_scriptlets(tmp_path, "warning: no /var/cache/pacman/pkg/ cache exists, creating...\n") is None
