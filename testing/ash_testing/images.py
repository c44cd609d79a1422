"""Debian disk images for the boot tests: the cached bootable base, the overlay that makes a guest
report on its console, installed images, ash run on them from the host, and a boot checked against
what the guest reported (``tests/test_boot.py``, ``tests/test_dualboot.py``; the fixtures that use
these are in ``tests/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ashcore.install import installer

from . import qemu
from .cli import ASH, Ash
from .roots import CACHE

RELEASE = "bookworm"
#: the package of the overlay's local apt repository
PACKAGE = "ash-hello"
BOOT_TIMEOUT = 900  # seconds; a boot takes 30-120 s under TCG, depending on the host's load


def bootstrap_debian(root: Path) -> None:
    """Debian through the apt plugin's bootstrap hook, with what it adds to make a base bootable."""
    from ashcore.api import BootstrapOptions
    from ashcore.hooks.manager import Plugins

    options = BootstrapOptions(
        distro="debian", release=RELEASE, variant="minbase", bootable=True, cache_dir=CACHE / "debs"
    )
    Plugins.load().bootstrap("apt", root, options)


def build_overlay(top: Path, debs: Iterable[Path] = (), report: tuple[str, ...] = ()) -> Path:
    """What the installer adds to the base (``top/root``): the report unit (which reports PACKAGE
    and ``report``), GRUB on the serial console, and a local apt repository (the only source, so
    nothing is fetched from the network) with PACKAGE and ``debs``."""
    root = qemu.report_overlay(top / "root", packages=(PACKAGE, *report))
    repo = root / "srv/ash-test-repo"
    build = top / "build"
    (build / "DEBIAN").mkdir(parents=True)
    (build / "usr/share" / PACKAGE).mkdir(parents=True)
    (build / "usr/share" / PACKAGE / "greeting").write_text("hello from a snapshot\n")
    (build / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\nMaintainer: ash tests <ash@example.invalid>\n"
        "Description: a tiny package for the ash boot tests\n"
    )
    repo.mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", build, repo / f"{PACKAGE}_1.0_all.deb"],
        check=True,
        capture_output=True,
    )
    for deb in debs:
        (repo / deb.name).write_bytes(deb.read_bytes())
    (repo / "Packages").write_text(
        subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, check=True, capture_output=True, text=True).stdout
    )
    (root / "etc/apt").mkdir(parents=True)
    (root / "etc/apt/sources.list").write_text("deb [trusted=yes] file:/srv/ash-test-repo ./\n")
    return root


def build_image(where: Path, firmware: str, base: Path, overlay: Path, hostname: str = "ashtest") -> Path:
    """``ash setup --image`` of a 6 GiB image from the base and the overlay (root's password: ash)."""
    image = where / f"{firmware}.img"
    subprocess.run(
        [
            *ASH,
            "setup",
            "--image",
            image,
            "--size",
            "6G",
            "--firmware",
            firmware,
            "--from",
            base,
            "--overlay",
            overlay,
            "--hostname",
            hostname,
            "--root-password",
            "ash",
            "--yes",
        ],
        check=True,
    )
    return image


def on_image(image: Path, *commands: tuple[str | os.PathLike[str], ...]) -> list[str]:
    """Run ash commands on the system in ``image`` from the host; return their outputs."""
    with installer.open_system(image) as view:
        ash = Ash(view)
        return [ash(*args).stdout for args in commands]


def boot_and_check(
    image: Path,
    firmware: str,
    log: Path,
    *,
    snapshot: int,
    package: bool,
    partition: str | None = None,
    keys: tuple[tuple[str, bytes], ...] = (),
) -> qemu.Boot:
    """Boot ``image`` and check that the guest booted the deployment of ``snapshot``, with a read-only
    ``/``, a writable ``/etc``, its package database bound from ash's ``partition`` (the installer's
    by default: ``vda1`` for BIOS, ``vda2`` for UEFI), on ``firmware``, with PACKAGE installed or not."""
    result = qemu.boot(image, firmware=firmware, log=log, timeout=BOOT_TIMEOUT, keys=keys)
    report = result.report
    context = f"\n--- console tail ({log}) ---\n{result.tail()}"
    assert result.reported, f"the guest never reported (timed out: {result.timed_out}){context}"
    assert report["current"] == str(snapshot) == report["marker"], (
        f"booted {report['current']}, not {snapshot}{context}"
    )
    assert f"rootflags=subvol=@.snapshots/deploy/{snapshot}-" in report["cmdline"], context
    assert report["root-writable"] == "no" and " ro," in report["root"], f"/ is not read-only{context}"
    assert report["etc-writable"] == "yes", f"/etc is not writable{context}"
    partition = partition or ("vda2" if firmware == "uefi" else "vda1")
    assert report["dpkg-db"].startswith(f"/dev/{partition}[/@.snapshots/deploy/{snapshot}-"), context
    assert report["firmware"] == firmware, context
    assert report["update-timer"] == "enabled", f"the automatic update's timer: {report['update-timer']}{context}"
    assert report["update-status"].startswith(f"deployed: snapshot {snapshot}, booted: snapshot {snapshot} "), (
        report["update-status"] + context
    )
    installed = report[f"package-{PACKAGE}"].startswith("install ok installed")
    assert installed == package, f"{PACKAGE}: {report[f'package-{PACKAGE}']}{context}"
    assert result.returncode == 0, f"QEMU exited with {result.returncode}{context}"
    return result
