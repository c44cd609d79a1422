"""Fixtures for the profiles plugin's tests, all real: snapshot stores on btrfs whose base is the
busybox test root (``ID=testos``) with unit files, changed by the tiny ``tpm`` package manager
(ash_testing.plugins.TPM, pip-installed for the test), and profiles written where a user puts them."""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from ash_testing.cli import Ash
from ash_testing.plugins import TPM, make_plugin, pip_install
from ash_testing.roots import CACHE, cached_root

UNIT = "[Unit]\nDescription={name}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"


def _env_of(site: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``ash`` that also imports the plugins in ``site`` (keeping PYTHONPATH)."""
    path = os.pathsep.join(p for p in (os.fspath(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, **extra}


@pytest.fixture
def env_of() -> Callable[..., dict[str, str]]:
    """``env_of(site)``: the environment of an ``ash`` that also imports the plugins in ``site``."""
    return _env_of


class Store:
    """A testos store and the environment its ``ash`` runs with."""

    def __init__(self, ash: Ash, env: dict[str, str]) -> None:
        self.ash, self.env = ash, env

    def __call__(self, *args: str, **kwargs):
        return self.ash(*args, env={**self.env, **kwargs.pop("env", {})}, **kwargs)

    def fail(self, *args: str, **kwargs) -> str:
        return self.ash.fail(*args, env={**self.env, **kwargs.pop("env", {})}, **kwargs)

    def snapshot(self, sid: int) -> Path:
        return self.ash.snapshot(sid)

    def profile(self, name: str, text: str) -> Path:
        """Write ``/etc/ash/profiles/<name>.toml`` of the managed system."""
        path = self.ash.sysroot / "etc/ash/profiles" / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def profiles_of(self, sid: int) -> list[dict]:
        def find(nodes: list[dict]) -> dict | None:
            for node in nodes:
                if node["id"] == sid:
                    return node
                if (found := find(node["children"])) is not None:
                    return found
            return None

        import json

        node = find(json.loads(self("tree", "--json").stdout)["tree"])
        assert node is not None, f"snapshot {sid} is not in the tree"
        return node["profiles"]

    def packages(self, sid: int) -> set[str]:
        db = self.snapshot(sid) / "var/lib/tpm"
        return {p.name for p in db.iterdir()} if db.is_dir() else set()


@pytest.fixture
def tpm_site(plugin_site: Path, tmp_path: Path) -> Path:
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    return plugin_site


@pytest.fixture
def testos(ash: Ash, busybox_root: Path, tpm_site: Path, tmp_path: Path) -> Store:
    """A store whose base is the busybox root with units (demo, other, multi-user.target), and snapshot 1 its clone."""
    base = tmp_path / "base"
    shutil.copytree(busybox_root, base, symlinks=True)
    units = base / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    for name in ("demo", "other"):
        (units / f"{name}.service").write_text(UNIT.format(name=name))
    (units / "multi-user.target").write_text("[Unit]\nDescription=Multi-User System\n")
    store = Store(ash, _env_of(tpm_site))
    store("init", "--from", base)
    assert store("clone", "0").stdout == "1\n"
    return store


@pytest.fixture(scope="session")
def debian_base(root_tools: Callable[..., None]) -> Path:
    """The bootable Debian bookworm root the boot tests cache (same key: built once for both)."""
    root_tools("debootstrap", "zstd")
    from ash_apt.plugin import BOOT_PACKAGES

    key = hashlib.sha256(" ".join(["bookworm", *BOOT_PACKAGES]).encode()).hexdigest()[:12]

    def bootstrap(root: Path) -> None:
        from ashcore.api import BootstrapOptions
        from ashcore.hooks.manager import Plugins

        options = BootstrapOptions(
            distro="debian", release="bookworm", variant="minbase", bootable=True, cache_dir=CACHE / "debs"
        )
        Plugins.load().bootstrap("apt", root, options)

    return cached_root(f"debian-bookworm-{key}", bootstrap)
