"""Deployed stores for tests: what GRUB would boot with the generated menu, the deploy state, and a
view of a sysroot as the booted deployment sees it."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ashcore.fs import btrfs
from ashcore.fs.files import in_root

from .cli import Ash
from .snapshots import digest

KERNEL = "6.1.0-9-amd64"


def fs_top(ash: Ash) -> Path:
    """The mount point of the top of the filesystem (the test fixture's btrfs mount)."""
    return ash.sysroot.parent


def grub_default(ash: Ash) -> tuple[int, str]:
    """What GRUB boots by default with the generated grub.cfg: (snapshot, deployment id).

    Checks that the kernel, the initramfs and the root subvolume of that entry exist.
    """
    cfg = (ash.store / "boot/grub/grub.cfg").read_text()

    def found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
        match = re.search(pattern, text, flags)
        assert match is not None, f"the menu has no {pattern!r}"
        return match

    default = int(found(r"^set default=(\d+)$", cfg, re.M).group(1))
    top_level = re.findall(r"^menuentry .*?\{\n(.*?)^\}", cfg, re.M | re.S)
    body = top_level[default]
    kernel = found(r"^\s*linux (\S+) (.*)$", body, re.M)
    initrd = found(r"^\s*initrd (\S+)$", body, re.M).group(1)
    subvol = found(r"rootflags=subvol=(\S+)", kernel.group(2)).group(1)
    top = fs_top(ash)
    for path in (kernel.group(1), initrd):
        assert (top / path.lstrip("/")).is_file(), f"GRUB would not find {path}"
    root = top / subvol
    assert btrfs.is_subvolume(root), f"GRUB would boot the missing subvolume {subvol}"
    assert f"root=UUID={fs_uuid(ash)} " in kernel.group(2)
    return int(in_root(root, "usr/lib/ash/snapshot").read_text()), root.name


def fs_uuid(ash: Ash) -> str:
    from ashcore.fs.btrfs import fs_uuid as uuid_of

    return uuid_of(ash.store)


def store_digest(ash: Ash) -> dict[str, str]:
    """The store's contents, but for the lock file (every run writes its pid there)."""
    found = digest(ash.store)
    found.pop("ash/lock", None)
    return found


def deploy_state(ash: Ash) -> dict:
    return json.loads((ash.store / "ash/deploy.json").read_text())


def deployments(ash: Ash) -> list[str]:
    return sorted(p.name for p in (ash.store / "deploy").iterdir())


@contextmanager
def booted_view(system: Ash, deployment: str) -> Iterator[Ash]:
    """ash on a sysroot laid out like the booted ``deployment``: the deployment with the store, /home
    and /var mounted where its fstab puts them (bind mounts, undone at the end)."""
    view = system.sysroot.parent / f"booted-{system.sysroot.name}"
    view.mkdir()
    with ExitStack() as stack:
        stack.callback(view.rmdir)
        for source, target in (
            (system.store / "deploy" / deployment, view),
            (system.store, view / ".snapshots"),
            (system.sysroot / "home", view / "home"),
            (system.sysroot / "var", view / "var"),
        ):
            subprocess.run(["mount", "--bind", source, target], check=True)
            stack.callback(subprocess.run, ["umount", str(target)], check=True)
        yield Ash(view)
