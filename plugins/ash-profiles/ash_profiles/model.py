"""The profile format: one TOML file per profile, every distribution in it, read with ``tomllib``
and validated on load. A file that is wrong in any way is refused with one line naming the file,
the key and what is wrong (:class:`ProfileError`); see the plugin's README for the format."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import attrs

#: Derivatives and the distribution whose lists they use when a profile has none of their own
#: (a profile's ``[families]`` table adds to or overrides these). ``ID_LIKE`` is followed too.
FAMILIES = {
    "ubuntu": "debian",
    "linuxmint": "ubuntu",
    "pop": "ubuntu",
    "kicksecure": "debian",
    "proxmox": "debian",
    "devuan": "debian",
    "endeavouros": "arch",
    "cachyos": "arch",
    "manjaro": "arch",
    "artix": "arch",
    "archarm": "arch",
    "funtoo": "gentoo",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")  # a profile's name, also its file's name
_DISTRO = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # an os-release ID
_PACKAGE = re.compile(r"^[^-\s\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$")  # what ash install accepts too
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|path|target|mount)$")
_OPENRC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PORTAGE_PROFILE = re.compile(r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$")

#: The keys each table may have; anything else is a mistake (a typo would otherwise be ignored).
_KEYS = {
    "": {"profile", "families", "packages", "services", "post", "gentoo"},
    "profile": {"name", "description", "conflicts", "requires"},
    "services": {"enable", "enable_by_distro", "openrc", "default_target"},
    "post": {"commands", "commands_by_distro"},
    "gentoo": {"profile"},
}


class ProfileError(ValueError):
    """A profile file that cannot be used: ``str()`` is the one line to show."""

    def __init__(self, source: str, key: str, what: str) -> None:
        super().__init__(f"{source}: {key}: {what}" if key else f"{source}: {what}")
        self.source, self.key, self.what = source, key, what


@attrs.frozen
class Profile:
    """One profile, as its file says; :func:`resolve` turns it into what to do on one snapshot."""

    name: str
    description: str
    #: where it comes from, as said in messages: a path, with the plugin or directory that gave it
    source: str
    packages: Mapping[str, tuple[str, ...]]
    services: tuple[str, ...] = ()
    services_by_distro: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: OpenRC service names; empty: the systemd names without their ``.service``
    openrc: tuple[str, ...] | None = None
    default_target: str | None = None
    post: tuple[str, ...] = ()
    post_by_distro: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    conflicts: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    families: Mapping[str, str] = attrs.field(factory=dict)
    #: the portage profile a Gentoo snapshot selects (``eselect profile``), if any
    portage_profile: str | None = None

    @property
    def distros(self) -> tuple[str, ...]:
        return tuple(sorted(self.packages))

    def family(self, ids: Sequence[str]) -> str | None:
        """The distribution of this profile's lists for a root whose os-release says ``ids`` (its
        ``ID`` then ``ID_LIKE``): the first that has a list, following derivatives to their parents."""
        families = {**FAMILIES, **self.families}
        for distro in ids:
            seen: set[str] = set()
            while distro and distro not in seen:
                if distro in self.packages:
                    return distro
                seen.add(distro)
                distro = families.get(distro, "")
        return None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "distros": list(self.distros),
            "packages": {k: list(v) for k, v in sorted(self.packages.items())},
            "services": list(self.services),
            "services_by_distro": {k: list(v) for k, v in sorted(self.services_by_distro.items())},
            "default_target": self.default_target,
            "post": list(self.post),
            "conflicts": list(self.conflicts),
            "requires": list(self.requires),
            "portage_profile": self.portage_profile,
        }


def load(path: Path, source: str | None = None) -> Profile:
    """The profile in the file at ``path`` (``source`` says where it came from in messages)."""
    where = source or str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(where, "", f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ProfileError(where, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(where, "", f"is not valid TOML ({exc})") from None
    return parse(data, where, expected_name=path.name.removesuffix(".toml"))


def parse(data: dict, source: str, *, expected_name: str | None = None) -> Profile:
    """The profile ``data`` (a parsed TOML file) describes, or :class:`ProfileError`."""
    v = _Validator(source)
    v.keys(data, "")
    meta = v.table(data, "profile", required=True)
    v.keys(meta, "profile")
    name = v.text(meta, "profile.name", required=True) or ""
    if not _NAME.match(name):
        v.fail("profile.name", f"{name!r} is not a profile name (lower-case letters, digits, '.', '_', '+', '-')")
    if expected_name is not None and name != expected_name:
        v.fail("profile.name", f"is {name!r}, but the file is named {expected_name}.toml")
    description = v.text(meta, "profile.description") or ""
    conflicts = v.names(meta, "profile.conflicts", _NAME, "a profile name")
    requires = v.names(meta, "profile.requires", _NAME, "a profile name")
    for key, names in (("profile.conflicts", conflicts), ("profile.requires", requires)):
        if name in names:
            v.fail(key, f"names the profile itself ({name!r})")
    if both := sorted(set(conflicts) & set(requires)):
        v.fail("profile.requires", f"{both[0]!r} is also in profile.conflicts")

    families_raw = v.table(data, "families")
    families = {}
    for derivative, parent in families_raw.items():
        key = f"families.{derivative}"
        if not _DISTRO.match(derivative):
            v.fail(key, f"{derivative!r} is not an os-release ID")
        if not isinstance(parent, str) or not _DISTRO.match(parent):
            v.fail(key, f"expected the os-release ID of the parent distribution, got {parent!r}")
        families[derivative] = parent

    packages_raw = v.table(data, "packages", required=True)
    if not packages_raw:
        v.fail("packages", "lists no distribution")
    packages = v.by_distro(packages_raw, "packages", _PACKAGE, "a package name")
    for distro, names in packages.items():
        if not names:
            v.fail(f"packages.{distro}", "is empty (leave the distribution out if the profile has nothing for it)")

    services_raw = v.table(data, "services")
    v.keys(services_raw, "services")
    services = v.names(services_raw, "services.enable", _UNIT, "a systemd unit name (like ssh.service)")
    unit = "a systemd unit name (like ssh.service)"
    by_distro_raw = v.table(services_raw, "enable_by_distro", prefix="services")
    by_distro = v.by_distro(by_distro_raw, "services.enable_by_distro", _UNIT, unit)
    openrc = (
        v.names(services_raw, "services.openrc", _OPENRC, "an OpenRC service name (like sshd)")
        if "openrc" in services_raw
        else None
    )
    target = v.text(services_raw, "services.default_target")
    if target is not None and not re.match(r"^[A-Za-z0-9_.@-]+\.target$", target):
        v.fail("services.default_target", f"{target!r} is not a systemd target (like graphical.target)")

    post_raw = v.table(data, "post")
    v.keys(post_raw, "post")
    post = v.commands(post_raw, "post.commands")
    post_by_distro_raw = v.table(post_raw, "commands_by_distro", prefix="post")
    post_by_distro = {}
    for distro in post_by_distro_raw:
        if not _DISTRO.match(distro):
            v.fail(f"post.commands_by_distro.{distro}", f"{distro!r} is not an os-release ID")
        post_by_distro[distro] = v.commands(post_by_distro_raw, f"post.commands_by_distro.{distro}")

    gentoo = v.table(data, "gentoo")
    v.keys(gentoo, "gentoo")
    portage = v.text(gentoo, "gentoo.profile")
    if portage is not None and (not _PORTAGE_PROFILE.match(portage) or ".." in portage.split("/")):
        v.fail("gentoo.profile", f"{portage!r} is not a portage profile path (like default/linux/amd64/23.0/systemd)")
    if portage is not None and "gentoo" not in packages:
        v.fail("gentoo.profile", "is set, but packages.gentoo is not")

    probe = Profile(name, "", source, packages, families=families)
    for key, table in (("services.enable_by_distro", by_distro), ("post.commands_by_distro", post_by_distro)):
        for distro in table:
            if probe.family([distro]) is None:
                v.fail(f"{key}.{distro}", f"the profile has no packages for {distro!r} ({', '.join(sorted(packages))})")
    return Profile(
        name=name,
        description=description,
        source=source,
        packages=packages,
        services=services,
        services_by_distro=by_distro,
        openrc=openrc,
        default_target=target,
        post=post,
        post_by_distro=post_by_distro,
        conflicts=conflicts,
        requires=requires,
        families=families,
        portage_profile=portage,
    )


class _Validator:
    """Reads one file's tables; the first thing wrong raises :class:`ProfileError`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, what: str) -> NoReturn:
        raise ProfileError(self.source, key, what)

    def keys(self, table: dict, where: str) -> None:
        allowed = _KEYS[where]
        for key in table:
            if key not in allowed:
                full = f"{where}.{key}" if where else key
                self.fail(full, f"unknown key (known: {', '.join(sorted(allowed))})")

    def table(self, data: dict, key: str, *, required: bool = False, prefix: str = "") -> dict:
        full = f"{prefix}.{key}" if prefix else key
        if key not in data:
            if required:
                self.fail(full, "is missing")
            return {}
        value = data[key]
        if not isinstance(value, dict):
            self.fail(full, f"expected a table, got {_kind(value)}")
        return value

    def text(self, table: dict, key: str, *, required: bool = False) -> str | None:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in table:
            if required:
                self.fail(key, "is missing")
            return None
        value = table[leaf]
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_kind(value)}")
        if "\n" in value or "\x00" in value:
            self.fail(key, "holds a line break or a NUL")
        return value

    def names(self, table: dict, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        leaf = key.rsplit(".", 1)[-1]
        value = table.get(leaf, [])
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{key}[{index}]", f"expected a string, got {_kind(item)}")
            if not pattern.match(item):
                self.fail(f"{key}[{index}]", f"{item!r} is not {what}")
        if len(set(value)) != len(value):
            twice = next(item for item in value if value.count(item) > 1)
            self.fail(key, f"lists {twice!r} twice")
        return tuple(value)

    def by_distro(self, table: dict, key: str, pattern: re.Pattern[str], what: str) -> dict[str, tuple[str, ...]]:
        found = {}
        for distro in table:
            if not _DISTRO.match(distro):
                self.fail(f"{key}.{distro}", f"{distro!r} is not an os-release ID (like debian, arch, gentoo)")
            found[distro] = self.names(table, f"{key}.{distro}", pattern, what)
        return found

    def commands(self, table: dict, key: str) -> tuple[str, ...]:
        leaf = key.rsplit(".", 1)[-1]
        value = table.get(leaf, [])
        if not isinstance(value, list):
            self.fail(key, f"expected a list of shell commands, got {_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{key}[{index}]", f"expected a shell command, got {item!r}")
            if "\x00" in item:
                self.fail(f"{key}[{index}]", "holds a NUL")
        return tuple(value)


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return next((n for t, n in names.items() if type(value) is t), type(value).__name__)
