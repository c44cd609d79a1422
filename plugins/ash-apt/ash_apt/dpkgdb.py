"""dpkg's and apt's databases read straight from a root filesystem: no chroot, no dpkg, read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ashcore.api import AshError, Package, in_root

STATUS = "var/lib/dpkg/status"
EXTENDED_STATES = "var/lib/apt/extended_states"


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The stanzas of a deb822 file as {field: first-line value}; continuation lines are skipped."""
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and line[:1].strip():
                fields[key] = value.strip()
        if fields:
            yield fields


def _name(fields: dict[str, str], native: str | None) -> str:
    """The name apt knows a package by: qualified with its architecture only when that is foreign."""
    arch = fields.get("Architecture")
    return fields["Package"] if arch in (None, "all", native) else f"{fields['Package']}:{arch}"


def installed(root: Path) -> list[Package]:
    """The packages installed in ``root``; ``explicit`` is False for those apt marked auto-installed."""
    try:
        status = in_root(root, STATUS).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise AshError(f"{root} has no dpkg database ({STATUS} is missing)") from None
    try:
        states = in_root(root, EXTENDED_STATES).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        states = ""  # nothing was ever installed by apt as a dependency (a fresh debootstrap)
    # A package is installed when its status word is "installed", whatever is wanted of it (hold, deinstall).
    entries = [f for f in paragraphs(status) if "Package" in f and f.get("Status", "").endswith(" installed")]
    native = next((f.get("Architecture") for f in entries if f["Package"] == "dpkg"), None)
    auto = {_name(f, native) for f in paragraphs(states) if "Package" in f and f.get("Auto-Installed") == "1"}
    packages = []
    for fields in entries:
        name = _name(fields, native)
        packages.append(Package(name, fields.get("Version", ""), explicit=name not in auto))
    return packages
