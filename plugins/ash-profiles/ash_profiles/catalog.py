"""Where profiles come from, and what one means for one snapshot.

Three sources, in this order: the profiles this plugin ships (package data, never fetched), the
files other plugins return from the ``ash_profile_files`` hook (a distribution installed with pip),
and the user's own directory ``/etc/ash/profiles/`` of the system ash manages (``--sysroot``). Two
definitions of one name are a clash: the name is refused, naming both sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ashcore.api import AshError, in_root

from .model import Profile, ProfileError, load

if TYPE_CHECKING:
    from ashcore.api import ProfileFile

SHIPPED = Path(__file__).parent / "profiles"
#: the user's own profiles, within the system root ash manages
USER_DIR = "etc/ash/profiles"
SYSTEMD, OPENRC = "systemd", "openrc"


@attrs.define
class Catalog:
    """The profiles known to this run; invalid files and clashes are kept as one-line problems."""

    profiles: dict[str, Profile] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)
    clashes: dict[str, str] = attrs.field(factory=dict)

    def add(self, profile: Profile) -> None:
        if profile.name in self.clashes:
            self.clashes[profile.name] += f" and by {profile.source}"
        elif (first := self.profiles.pop(profile.name, None)) is not None:
            self.clashes[profile.name] = (
                f"profile '{profile.name}' is defined by {first.source} and by {profile.source}"
            )
        else:
            self.profiles[profile.name] = profile

    def get(self, name: str) -> Profile:
        if name in self.clashes:
            raise AshError(self.clashes[name], hint="remove or rename one of them")
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            broken = (
                f"; {len(self.problems)} profile file(s) could not be read (see the warnings)" if self.problems else ""
            )
            raise AshError(f"no profile named {name!r} (known: {known}){broken}", hint="see 'ash profile list'")
        return self.profiles[name]


def collect(sysroot: Path, plugin_files: Sequence[tuple[str, ProfileFile]]) -> Catalog:
    """Every profile of the three sources; see the module's docstring."""
    catalog = Catalog()
    files = [(path, f"ash-profiles ({path})") for path in sorted(SHIPPED.glob("*.toml"))]
    for plugin, record in plugin_files:
        path = getattr(record, "path", None)
        if isinstance(path, (str, Path)):
            files.append((Path(path), f"plugin '{plugin}' ({path})"))
        else:
            catalog.problems.append(f"plugin '{plugin}' returned {record!r} from ash_profile_files, not a ProfileFile")
    user = in_root(sysroot, USER_DIR)
    if user.is_dir():
        files += [(path, str(path)) for path in sorted(user.glob("*.toml"))]
    for path, source in files:
        try:
            catalog.add(load(Path(path), source))
        except ProfileError as exc:
            catalog.problems.append(str(exc))
    return catalog


def init_system(root: Path) -> str:
    """How the root at ``root`` starts services: OpenRC when it has OpenRC and no systemctl."""
    has = [
        in_root(root, p).exists()
        for p in ("usr/bin/systemctl", "bin/systemctl", "sbin/rc-update", "usr/sbin/rc-update")
    ]
    return OPENRC if (has[2] or has[3]) and not (has[0] or has[1]) else SYSTEMD


@attrs.frozen
class Plan:
    """What installing a profile does on one snapshot, in order."""

    profile: str
    distro: str  #: the snapshot's os-release ID
    family: str  #: the distribution whose lists are used (``distro`` or its parent)
    packages: tuple[str, ...]
    init: str
    services: tuple[str, ...]
    default_target: str | None
    post: tuple[str, ...]
    portage_profile: str | None

    def lines(self) -> list[str]:
        via = "" if self.family == self.distro else f" (the lists of {self.family})"
        out = [f"profile {self.profile} on {self.distro}{via}:", f"  packages: {' '.join(self.packages)}"]
        if self.portage_profile:
            out.append(f"  portage profile: {self.portage_profile}")
        verb = "rc-update add ... default" if self.init == OPENRC else "systemctl enable"
        out.append(f"  services ({verb}): {' '.join(self.services) or 'none'}")
        if self.default_target and self.init == SYSTEMD:
            out.append(f"  default target: {self.default_target}")
        out += [f"  post: {command}" for command in self.post] or ["  post: none"]
        return out

    def to_json(self) -> dict:
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


def plan(profile: Profile, ids: Sequence[str], init: str) -> Plan:
    """What ``profile`` does on a root whose os-release says ``ids`` and which starts services with ``init``."""
    family = profile.family(ids)
    if family is None:
        what = f"distribution '{ids[0]}'" if ids else "a snapshot without /etc/os-release"
        raise AshError(
            f"profile {profile.name!r} has nothing for {what} (it has {', '.join(profile.distros)})",
            hint=f"add a [packages] list for it to a copy in /{USER_DIR}/",
        )
    chain = _chain(profile, [*ids, family])
    services = next((profile.services_by_distro[d] for d in chain if d in profile.services_by_distro), profile.services)
    if init == OPENRC:
        services = (
            profile.openrc
            if profile.openrc is not None
            else tuple(s.removesuffix(".service") for s in services if s.endswith(".service"))
        )
    post = next((profile.post_by_distro[d] for d in chain if d in profile.post_by_distro), profile.post)
    return Plan(
        profile=profile.name,
        distro=ids[0] if ids else family,
        family=family,
        packages=profile.packages[family],
        init=init,
        services=services,
        default_target=profile.default_target if init == SYSTEMD else None,
        post=post,
        portage_profile=profile.portage_profile if family == "gentoo" else None,
    )


def _chain(profile: Profile, ids: Sequence[str]) -> list[str]:
    """``ids`` with each one's parents after it, most specific first, each once."""
    from .model import FAMILIES

    families = {**FAMILIES, **profile.families}
    out: list[str] = []
    for distro in ids:
        while distro and distro not in out:
            out.append(distro)
            distro = families.get(distro, "")
    return out
