"""The fixtures of the boot tests (``test_boot.py``, ``test_dualboot.py``): the cached bootable Debian
base and the overlay that makes a guest report (built with :mod:`ash_testing.images`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ash_testing import qemu
from ash_testing.images import RELEASE, bootstrap_debian, build_overlay
from ash_testing.require import require
from ash_testing.roots import cached_root


@pytest.fixture(scope="session")
def debian_base(root_tools) -> Path:
    """A bootable Debian root as a tarball, cached between runs (keyed by release and packages)."""
    root_tools("debootstrap", "zstd", "qemu-system-x86_64", "sfdisk", "partx", "mkfs.vfat", "mcopy")
    require(Path(qemu.OVMF_CODE).exists(), "needs ovmf")
    from ash_apt.plugin import BOOT_PACKAGES as packages  # what bootable=True adds

    key = hashlib.sha256(" ".join([RELEASE, *packages]).encode()).hexdigest()[:12]
    return cached_root(f"debian-{RELEASE}-{key}", bootstrap_debian)


@pytest.fixture(scope="session")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the installer adds to the base: the report unit, GRUB on the serial console, and a
    local apt repository with :data:`~ash_testing.images.PACKAGE`."""
    return build_overlay(tmp_path_factory.mktemp("overlay"))
