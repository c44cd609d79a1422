"""pacman's configuration and local database, read straight from a root filesystem (no pacman needed)."""

from __future__ import annotations

from pathlib import Path

from ashcore.api import AshError, Package, in_root

CONFIG = "etc/pacman.conf"
#: The path options ash reads from ``[options]``, with pacman's defaults.
DEFAULTS = {
    "DBPath": "/var/lib/pacman/",
    "CacheDir": "/var/cache/pacman/pkg/",
    "GPGDir": "/etc/pacman.d/gnupg/",
    "HookDir": "/etc/pacman.d/hooks/",
    "LogFile": "/var/log/pacman.log",
}
#: The options that name several directories, split at spaces as pacman splits them.
LISTS = ("CacheDir", "HookDir")


def options(config: Path) -> dict[str, str]:
    """The path options of ``config`` (the first value of each, as pacman takes it) over the defaults."""
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return dict(DEFAULTS)
    given: dict[str, str] = {}
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if section == "options" and sep and key in DEFAULTS:
            given.setdefault(key, value.split()[0] if key in LISTS and value else value)
    return {**DEFAULTS, **given}


def db_path(root: Path) -> Path:
    """The package database of ``root``: where its pacman.conf says (default /var/lib/pacman)."""
    return in_root(root, options(in_root(root, CONFIG))["DBPath"])


def has_sync_databases(root: Path) -> bool:
    """Whether ``root`` has fetched its repositories' databases (an Arch bootstrap tarball has not)."""
    return any((db_path(root) / "sync").glob("*.db"))


def rerooted(config: Path, root: Path) -> str:
    """``config``'s text with each ``Include`` taken inside ``root``, for a pacman run from outside it."""
    lines = []
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.split("#", 1)[0].partition("=")
        if sep and key.strip() == "Include":
            line = f"Include = {in_root(root, value.strip())}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _desc(text: str) -> dict[str, str]:
    """The fields of a local database ``desc`` file (``%NAME%`` then its value lines), first value each."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("%") and line.endswith("%") and len(line) > 2:
            key = line[1:-1]
        elif key and line:
            fields.setdefault(key, line)
        else:
            key = None
    return fields


def installed(root: Path) -> list[Package]:
    """The packages of ``root``'s local database; ``explicit`` is False for those installed as dependencies."""
    db = db_path(root)
    if not db.is_dir():
        raise AshError(f"{root} has no pacman database ({db} is missing)")
    packages = []
    for desc in sorted((db / "local").glob("*/desc")):
        fields = _desc(desc.read_text(encoding="utf-8", errors="replace"))
        if "NAME" in fields:
            packages.append(Package(fields["NAME"], fields.get("VERSION", ""), explicit=fields.get("REASON") != "1"))
    return packages
