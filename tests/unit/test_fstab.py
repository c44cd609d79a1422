"""The /etc/fstab lines ash owns, for a snapshot and for a deployment, and how they are merged
into a file whose other lines belong to the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from ashcore.fs import fstab
from ashcore.fs.fstab import HEADER, TMP, Layout

UUID = "2561ac1c-074a-46fa-8e37-68315ba91838"
HOME_AND_VAR = (("/home", "@home"), ("/var", "@var"))
STATE = ("var/lib/dpkg", "var/lib/apt")


def layout(shared: tuple[tuple[str, str], ...] = HOME_AND_VAR) -> Layout:
    return Layout(uuid=UUID, store="@.snapshots", shared=shared)


#: What a Debian installer writes, as ash finds it on a system it installs onto.
INSTALLER_FSTAB = f"""\
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID={UUID} /               btrfs   defaults,subvol=@rootfs 0       0
UUID=9A3E-61C2  /boot/efi       vfat    umask=0077      0       1
/swapfile none swap sw 0 0
"""
USER_LINES = INSTALLER_FSTAB.splitlines()[:3] + INSTALLER_FSTAB.splitlines()[4:]


def test_snapshot_lines_mount_the_root_read_only_with_the_store_and_shared_subvolumes():
    assert layout().snapshot_lines() == [
        f"UUID={UUID} / btrfs ro,noatime 0 0",
        f"UUID={UUID} /.snapshots btrfs subvol=@.snapshots,noatime 0 0",
        f"UUID={UUID} /home btrfs subvol=@home,noatime 0 0",
        f"UUID={UUID} /var btrfs subvol=@var,noatime 0 0",
        TMP,
    ]


def test_without_shared_subvolumes_only_the_store_and_tmp_follow_the_root():
    assert layout(shared=()).snapshot_lines()[1:] == [
        f"UUID={UUID} /.snapshots btrfs subvol=@.snapshots,noatime 0 0",
        TMP,
    ]


@pytest.mark.parametrize("writable, mode", [(True, "rw"), (False, "ro")])
def test_deployment_root_is_its_subvolume_in_the_store(writable, mode):
    lines = layout().deployment_lines("deploy/2-5", writable=writable, state_paths=STATE)
    assert lines[0] == f"UUID={UUID} / btrfs subvol=@.snapshots/deploy/2-5,{mode},noatime 0 0"
    assert lines[1:5] == layout().snapshot_lines()[1:]


def test_deployment_binds_its_own_etc_and_its_package_database_over_the_shared_var():
    lines = layout().deployment_lines("deploy/2-5", writable=False, state_paths=STATE)
    assert lines[5:] == [
        "/.snapshots/deploy/2-5/etc /etc none bind 0 0",
        "/.snapshots/deploy/2-5/var/lib/dpkg /var/lib/dpkg none bind,ro 0 0",
        "/.snapshots/deploy/2-5/var/lib/apt /var/lib/apt none bind,ro 0 0",
    ]


def test_without_a_shared_var_the_package_database_is_the_deployment_own():
    lines = layout(shared=(("/home", "@home"),)).deployment_lines("deploy/2-5", writable=False, state_paths=STATE)
    assert [line for line in lines if "bind" in line] == ["/.snapshots/deploy/2-5/etc /etc none bind 0 0"]


def test_subvolume_is_relative_to_the_top_of_the_filesystem():
    assert layout().subvolume("rootfs/snapshot-3") == "@.snapshots/rootfs/snapshot-3"


@pytest.mark.parametrize(
    "line, point",
    [
        (f"UUID={UUID} / btrfs ro 0 0", "/"),
        ("tmpfs /tmp tmpfs defaults 0 0", "/tmp"),
        (f"#UUID={UUID} /home btrfs defaults 0 0", None),
        ("", None),
        ("   ", None),
        ("tmpfs", None),
    ],
)
def test_mount_point_of_a_line(line, point):
    assert fstab.mount_point(line) == point


def test_merge_replaces_the_lines_for_ash_mount_points_and_keeps_the_user_ones_after_a_blank_line():
    owned = layout().snapshot_lines()
    assert fstab.merge(INSTALLER_FSTAB, owned) == "\n".join([HEADER, *owned, "", *USER_LINES]) + "\n"


def test_merge_again_with_other_lines_replaces_ash_previous_ones():
    deployment = layout().deployment_lines("deploy/2-5", writable=False, state_paths=STATE)
    merged = fstab.merge(fstab.merge(INSTALLER_FSTAB, layout().snapshot_lines()), deployment)
    assert merged == "\n".join([HEADER, *deployment, "", *USER_LINES]) + "\n"


def test_merge_is_stable():
    once = fstab.merge(INSTALLER_FSTAB, layout().snapshot_lines())
    assert fstab.merge(once, layout().snapshot_lines()) == once


def test_merge_of_an_empty_file_is_ash_lines_alone():
    assert fstab.merge("", [TMP]) == f"{HEADER}\n{TMP}\n"


def test_user_lines_drop_ash_header_and_leading_blank_lines_but_keep_comments():
    text = f"{HEADER}\n{TMP}\n\n\n# swap\n/swapfile none swap sw 0 0\n"
    assert fstab.user_lines(text, [TMP]) == ["# swap", "/swapfile none swap sw 0 0"]


def test_read_follows_the_root_own_links(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr/share").mkdir(parents=True)
    (tmp_path / "usr/share/fstab").write_text(INSTALLER_FSTAB)
    (tmp_path / "etc/fstab").symlink_to("/usr/share/fstab")  # absolute: it means the root's /usr
    assert fstab.read(tmp_path) == INSTALLER_FSTAB


def test_read_of_a_root_without_fstab_is_empty(tmp_path: Path):
    assert fstab.read(tmp_path) == ""
