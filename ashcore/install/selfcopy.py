"""Copying ash into a system (the installer, ``ash self-update``): the running installation, file
by file: ashcore, the plugins the target uses, and what they require, walked through their metadata.

Nothing is fetched, since an index may hold other projects under ash's names, and nothing needs pip,
which an installed system does not have. A distribution's files are those its ``RECORD`` lists;
an editable install (a checkout) lists none of its code, so its top-level packages are copied from
where they are imported. Each copy gets a ``RECORD`` of what was copied, so the installed ash can
copy itself in turn. Copies run on the target's python3, which must be of the running minor version.
Only runtime distributions are copied: the test tools (``ash-testing``) never are.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from ..errors import AshError
from ..fs import btrfs
from ..fs.files import atomic_write, in_root, write_in
from ..ops.system import System
from ..sandbox.chroot import Chroot
from ..store.tree import Tree

SITE = "/usr/lib/ash/site"  # where ash lives on an installed system
LAUNCHER = """#!/usr/bin/python3 -I
# ash, put here by 'ash setup'; its code and plugins are in /usr/lib/ash/site.
import sys

sys.path.insert(0, "/usr/lib/ash/site")
from ashcore.cli.main import main

main()
"""


#: The automatic update (docs/updates.md), shipped with ash; the installer enables the timer.
UNITS = {
    "ash-auto-upgrade.service": """[Unit]
Description=ash automatic update: upgrade a clone of the deployed snapshot, check it, deploy it
ConditionACPower=true
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/ash auto-upgrade --scheduled
Nice=19
IOSchedulingClass=idle
""",
    "ash-auto-upgrade.timer": """[Unit]
Description=Daily ash automatic update

[Timer]
OnCalendar=daily
RandomizedDelaySec=2h
Persistent=true

[Install]
WantedBy=timers.target
""",
}
UNIT_DIR = "usr/lib/systemd/system"


def install_ash(system: System, chroot: Chroot, tree: Tree, extra: Mapping[str, str] | None = None) -> None:
    """Put ash, the plugins this system uses and their dependencies into ``/usr/lib/ash/site`` of the
    root behind ``chroot`` (replacing what was there), with a ``/usr/bin/ash`` launcher, the
    automatic update's systemd units and ``extra`` (relative path: text; the man page); the target's
    python3 byte-compiles them. The paths are taken as the root sees them."""
    root = chroot.root
    version, running = _python_version(root), "{}.{}".format(*sys.version_info)
    if version != running:
        raise AshError(
            f"the target has Python {version}, but this ash runs on Python {running}",
            hint=f"ash is copied as it runs; copy it from an ash that runs on Python {version}",
        )
    users = {
        system.plugins.package_manager_or_none(root, tree.distro),
        *system.plugins.implementers("ash_bootloader_update"),
    }
    wanted = ["ashcore", *(r.distribution for r in system.plugins.records if r.name in users)]
    site = in_root(root, SITE)
    btrfs.ensure_absent(site)
    for dist in _with_requirements(wanted):
        info, files = _site_files(dist)
        for name, path in files.items():
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, site / name)
        (site / info / "RECORD").write_text("".join(f"{name},,\n" for name in sorted([*files, f"{info}/RECORD"])))
    launcher = in_root(root, "usr/bin/ash")
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    units = in_root(root, UNIT_DIR)
    units.mkdir(parents=True, exist_ok=True)
    for name, text in UNITS.items():
        atomic_write(units / name, text)
    for rel, text in (extra or {}).items():  # what the CLI makes of itself: the man page
        in_root(root, rel).parent.mkdir(parents=True, exist_ok=True)
        write_in(root, rel, text)
    chroot.run(["python3", "-m", "compileall", "-q", SITE])


def _python_version(root: Path) -> str:
    for candidate in ("usr/bin/python3", "bin/python3"):
        python = in_root(root, candidate)  # its links followed: python3.11, not python3
        if python.name.startswith("python3.") and python.is_file():
            return python.name.removeprefix("python")
    raise AshError("the new system has no python3, which ash needs", hint="include python3 in its packages")


def _installed(name: str) -> metadata.Distribution | None:
    """Distribution ``name`` as installed where ash runs (not an egg-info of a checkout, which lists
    no installed files)."""
    return next((d for d in metadata.distributions(name=name) if d.read_text("RECORD") is not None), None)


def _with_requirements(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and, recursively, those they require. A requirement for
    an extra never counts; one under another marker counts if it is installed here (the target runs
    the same Python on the same machine)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if (key := re.sub(r"[-_.]+", "-", name).lower()) in found:
            continue
        if (dist := _installed(name)) is None:
            raise AshError(f"{name}, which ash needs, is not installed where ash runs")
        found[key] = dist
        for requirement in dist.requires or ():
            match = _REQUIREMENT.fullmatch(requirement)
            assert match is not None  # the pattern takes any requirement string
            required, marker = match.groups()
            if marker is None or (not re.search(r"\bextra\b", marker) and _installed(required)):
                todo.append(required)
    return list(found.values())


_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*(?:;(.*))?", re.DOTALL)


def _site_files(dist: metadata.Distribution) -> tuple[str, dict[str, Path]]:
    """A distribution's ``.dist-info`` name and its files by their path in a site directory: those it
    lists (not scripts outside it, bytecode, nor the RECORD and ``direct_url.json`` of this
    installation); for an editable install, its metadata and its top-level packages' sources."""
    recorded = dist.files or []  # _installed() took only distributions with a RECORD
    info = next(f.parts[0] for f in recorded if f.parts[0].endswith(".dist-info"))
    mine = (f"{info}/RECORD", f"{info}/direct_url.json")
    listed = {
        f.as_posix(): Path(str(dist.locate_file(f)))
        for f in recorded  # never a path outside the site
        if not f.is_absolute() and not {"..", "__pycache__"} & set(f.parts) and f.as_posix() not in mine
    }
    if not json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
        return info, listed
    files = {name: path for name, path in listed.items() if name.startswith(f"{info}/")}
    for package in (dist.read_text("top_level.txt") or "").split():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise AshError(
                f"cannot find the package {package} of the editable install {dist.name}", hint="install it without -e"
            )
        if not spec.submodule_search_locations:
            files[Path(spec.origin).name] = Path(spec.origin)
            continue
        top = Path(spec.origin).parent
        files.update(
            {
                f"{package}/{p.relative_to(top)}": p
                for p in top.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            }
        )
    return info, files
