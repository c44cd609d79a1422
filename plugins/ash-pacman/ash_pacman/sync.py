"""``sync``/``force-sync`` for pacman: a child gets what its parent has, at the parent's versions.

From the package files at hand first: every snapshot shares one package cache, so what the parent
installed is usually there, and ``pacman -U`` installs exactly those files, with no database and no
network. Otherwise from package databases (the child's own, or else a copy of the parent's), and only
when they offer the parent's exact versions: pacman has no way to ask for an older one, and a newer
one would upgrade the child, which ``force-sync`` must not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ashcore.api import AshError, Chroot, Package, copy_into, in_root

from . import pacman, rootfs

SYNC_HINT = "'ash sync' the tree, which upgrades it"


def sync(chroot: Chroot, parent: Path, packages: Sequence[Package]) -> None:
    """Install ``packages`` (the parent's explicit ones the child lacks) and the dependencies the
    parent has and the child lacks, each at the parent's version; dependencies stay dependencies."""
    have = {p.name for p in rootfs.installed(chroot.root)}
    wanted = {p.name: p for p in packages}
    wanted.update({p.name: p for p in rootfs.installed(parent) if p.name not in have and not p.explicit})
    files = cached_files(pacman.shared_cache(chroot), wanted.values())
    if len(files) == len(wanted):
        _install_files(chroot, wanted, files)
    else:
        _install_from_databases(chroot, parent, wanted)


def cached_files(cache: Path, packages: Iterable[Package]) -> dict[str, str]:
    """The names of the files in ``cache`` that hold exactly these packages' versions, by package."""
    try:
        names = sorted(p.name for p in cache.iterdir() if p.is_file())
    except FileNotFoundError:
        return {}
    found = {}
    for package in packages:
        pattern = re.compile(rf"{re.escape(package.name)}-{re.escape(package.version)}-[^-/]+\.pkg\.tar(\.\w+)?")
        match = next((name for name in names if pattern.fullmatch(name)), None)
        if match:
            found[package.name] = match
    return found


def _install_files(chroot: Chroot, wanted: dict[str, Package], files: dict[str, str]) -> None:
    paths = {name: pacman.cache_file(chroot, file) for name, file in files.items()}
    deps = [paths[p.name] for p in wanted.values() if not p.explicit]
    explicit = [paths[p.name] for p in wanted.values() if p.explicit]
    if deps:
        pacman.pacman(chroot, "-U", "--needed", "--asdeps", "--", *deps)
    if explicit:
        pacman.pacman(chroot, "-U", "--needed", "--", *explicit)


def _install_from_databases(chroot: Chroot, parent: Path, wanted: dict[str, Package]) -> None:
    sid = chroot.snapshot
    if not rootfs.has_sync_databases(chroot.root):
        if not rootfs.has_sync_databases(parent):
            # Refused: -Syu would upgrade it, and -Sy then -S is a partial upgrade, which Arch does not support.
            raise AshError(
                "the parent's package files are not in the package cache, and it has no sync databases to"
                " install them from without upgrading it",
                hint=f"fetch them with 'ash refresh {sid}' (or upgrade it with 'ash upgrade {sid}')",
            )
        sync_dir = f"{rootfs.options(in_root(chroot.root, rootfs.CONFIG))['DBPath'].rstrip('/')}/sync"
        target = in_root(chroot.root, sync_dir)
        target.mkdir(parents=True, exist_ok=True)
        copy_into(rootfs.db_path(parent) / "sync", target, replace=True)
    offered = pacman.targets(chroot, [p.name for p in wanted.values() if p.explicit])
    for name, version in offered.items():
        if name in wanted and wanted[name].version != version:
            raise AshError(
                f"the parent's {name} {wanted[name].version} is neither in the package cache nor in the"
                f" package databases (they have {version})",
                hint=SYNC_HINT,
            )
    explicit = [p.name for p in wanted.values() if p.explicit]
    if explicit:
        pacman.pacman(chroot, "-S", "--needed", "--", *explicit)
