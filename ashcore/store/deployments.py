"""The deployment records: ``<store>/ash/deploy.json`` (which deployment boots by default, which one
is the fallback, whether a switch is pending), the ``deploy/<N>-<serial>`` subvolumes, and the
markers a deployment carries in ``/usr/lib/ash`` (what it is, and whether it is in step with its
snapshot). The only module that reads or writes them; :mod:`ashcore.boot.deploy` decides when.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs

from ..console import note
from ..fs import btrfs
from ..fs.files import atomic_write, failpoint, in_root, write_in

FORMAT, VERSION = "ash-deploy", 1
MARKERS = Path("usr/lib/ash")  # in a deployment: "snapshot" and "deployment" name what it is, and
# "source" the UUID of the snapshot's subvolume when the deployment was last in step with it
_ID = re.compile(r"(\d+)-(\d+)")


@attrs.frozen
class Deployment:
    id: str
    snapshot: int

    def to_json(self) -> dict:
        return {"id": self.id, "snapshot": self.snapshot}

    @classmethod
    def from_json(cls, data: dict | None) -> Deployment | None:
        return None if data is None else cls(id=str(data["id"]), snapshot=int(data["snapshot"]))


@attrs.frozen
class DeployState:
    """The contents of ``deploy.json``."""

    default: Deployment | None = None
    previous: Deployment | None = None
    pending: bool = False  # the bootloader may not boot ``default`` yet

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "snapshot": self.default.snapshot if self.default else None,
            "default": self.default.to_json() if self.default else None,
            "previous": self.previous.to_json() if self.previous else None,
            "bootloader_pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: dict) -> DeployState:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not an {FORMAT} version {VERSION} file")
        return cls(
            default=Deployment.from_json(data["default"]),
            previous=Deployment.from_json(data["previous"]),
            pending=bool(data["bootloader_pending"]),
        )


class Deployments:
    """The deployments of the store at ``store`` (a directory) of the system at ``sysroot``."""

    def __init__(self, sysroot: Path, store: Path) -> None:
        self.sysroot = sysroot
        self.dir = store / "deploy"
        self.file = store / "ash" / "deploy.json"

    def path(self, dep_id: str) -> Path:
        return self.dir / dep_id

    def load(self, *, quiet: bool = False) -> DeployState:
        """The state; an unreadable file counts as no deployment (said unless ``quiet``)."""
        try:
            return DeployState.from_json(json.loads(self.file.read_text()))
        except FileNotFoundError:
            return DeployState()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not quiet:
                note(f"ignored {self.file}, which is unreadable ({exc}); deploy a snapshot to rewrite it")
            return DeployState()

    def save(self, state: DeployState) -> None:
        atomic_write(self.file, json.dumps(state.to_json(), indent=1) + "\n")

    def booted_snapshot(self) -> int | None:
        """The snapshot the running system was deployed from, if ``sysroot`` is a booted deployment."""
        try:
            return int(in_root(self.sysroot, MARKERS / "snapshot").read_text().strip())
        except (OSError, ValueError):
            return None

    def booted(self) -> Deployment | None:
        """The deployment the running system is (when ``sysroot`` is a booted deployment)."""
        sysroot = self.sysroot
        try:
            found = Deployment(
                in_root(sysroot, MARKERS / "deployment").read_text().strip(),
                int(in_root(sysroot, MARKERS / "snapshot").read_text()),
            )
        except (OSError, ValueError):
            return None
        return found if self.path(found.id).is_dir() else None

    def new_id(self, snapshot: int, state: DeployState) -> str:
        """``<snapshot>-<serial>``, the serial one above any in use, so ids are never reused while seen."""
        names = [p.name for p in self.dir.iterdir()] if self.dir.is_dir() else []
        names += [d.id for d in (state.default, state.previous) if d]
        serials = [int(m.group(2)) for n in names if (m := _ID.fullmatch(n))]
        return f"{snapshot}-{max(serials, default=0) + 1}"

    def collect(self, state: DeployState) -> list[str]:
        """Delete every deployment but the default, the previous and the booted one."""
        keep = {d.id for d in (state.default, state.previous, self.booted()) if d}
        gone = []
        for entry in sorted(self.dir.iterdir()) if self.dir.is_dir() else []:
            if entry.name not in keep:
                btrfs.ensure_absent(entry)
                gone.append(entry.name)
                failpoint("deploy:collected")
        return gone

    def mark(self, root: Path, dep: Deployment) -> None:
        """Write into the new deployment at ``root`` what it is (as the deployment sees its paths)."""
        in_root(root, MARKERS).mkdir(parents=True, exist_ok=True)
        write_in(root, MARKERS / "snapshot", f"{dep.snapshot}\n")
        write_in(root, MARKERS / "deployment", f"{dep.id}\n")

    def mark_in_step(self, dep: Deployment, snapshot: Path) -> None:
        """Record that ``dep`` and its snapshot (at ``snapshot``) are in step (after a deploy,
        etc-update, live install)."""
        write_in(self.path(dep.id), MARKERS / "source", btrfs.subvolume_uuid(snapshot) + "\n")

    def in_step(self, dep: Deployment, snapshot: Path) -> bool:
        """Whether the snapshot of ``dep`` is unchanged since it was last in step with it."""
        try:
            source = in_root(self.path(dep.id), MARKERS / "source").read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return source == btrfs.subvolume_uuid(snapshot)
