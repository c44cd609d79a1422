"""A snapshot's links lead within it when ash reads it from the host: an absolute link means the
snapshot's own file, never the host's (here the host is whatever runs the tests, e.g. Debian)."""

from __future__ import annotations

import shutil

from ash_testing.plugins import TPM, env_with, make_plugin, pip_install


def test_os_release_through_an_absolute_link_is_the_snapshots_own(ash, busybox_root, tmp_path, plugin_site):
    root = tmp_path / "root"
    shutil.copytree(busybox_root, root, symlinks=True)
    (root / "usr/lib").mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").rename(root / "usr/lib/os-release")
    (root / "etc/os-release").symlink_to("/usr/lib/os-release")  # as on most distros, but absolute
    (root / "var/lib/tpm").mkdir(parents=True)
    (root / "var/lib/tpm/hello").write_text("1.0\n")
    assert "(testos)" in ash("init", "--from", root).stdout
    assert ash.tree_json()["distro"] == "testos"
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    out = ash("list", "0", env=env_with(plugin_site), check=False)  # tpm's, not apt's (the host's)
    assert (out.returncode, out.stdout) == (0, "hello 1.0\n"), out.stderr


def test_copy_into_replaces_links_in_the_destination_never_writes_through(tmp_path):
    """An overlay copied into a snapshot (``replace``) replaces a link there, whatever it leads to;
    without ``replace`` the link is kept; either way the file it leads to is untouched."""
    from ashcore.fs.files import copy_into

    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc/hostname").write_text("outside\n")
    (outside / "motd").write_text("outside\n")
    overlay, root = tmp_path / "overlay", tmp_path / "root"
    (overlay / "etc").mkdir(parents=True)
    (overlay / "etc/hostname").write_text("overlay\n")
    (overlay / "opt").mkdir()
    (overlay / "opt/motd").write_text("overlay\n")
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").symlink_to(outside / "etc/hostname")
    (root / "opt").symlink_to(outside)  # a directory link: replaced whole, never entered
    copy_into(overlay, root, replace=True)
    assert (outside / "etc/hostname").read_text() == "outside\n" and (outside / "motd").read_text() == "outside\n"
    assert not (root / "etc/hostname").is_symlink() and (root / "etc/hostname").read_text() == "overlay\n"
    assert not (root / "opt").is_symlink() and (root / "opt/motd").read_text() == "overlay\n"
    assert sorted(p.name for p in outside.iterdir()) == ["etc", "motd"]
    (root / "etc/hostname").unlink()
    (root / "etc/hostname").symlink_to(outside / "etc/hostname")
    copy_into(overlay, root, replace=False)
    assert (root / "etc/hostname").is_symlink() and (outside / "etc/hostname").read_text() == "outside\n"
