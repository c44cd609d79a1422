"""Every Debian list of every profile resolves against the real archive: bookworm's ``main`` index
for amd64 (fetched from deb.debian.org once into the test cache). Each name must be a real package
(not only a virtual one), and every dependency of what it pulls in (Depends, Pre-Depends; one
alternative of each) must be a package or provided by one, so that a misspelt or vanished name
fails here rather than in a user's transaction.

Arch and Gentoo lists cannot be checked here (no Arch or Gentoo mirror is reachable from the test
machines); tests/test_install.py installs an Arch list from a local repository built of those
names, which checks the mechanism, not that Arch has the packages.
"""

from __future__ import annotations

import lzma
import re
from functools import cache
from pathlib import Path

import pytest
from ash_profiles.catalog import SHIPPED
from ash_profiles.model import load
from ash_testing.roots import cached_file

RELEASE = "bookworm"
URL = f"http://deb.debian.org/debian/dists/{RELEASE}/main/binary-amd64/Packages.xz"


@cache
def index() -> tuple[dict[str, list[list[str]]], set[str]]:
    """Bookworm's packages with their dependency groups (alternatives), and every name provided."""
    text = lzma.decompress(cached_file(f"debian-{RELEASE}-main-amd64-Packages.xz", URL).read_bytes()).decode()
    packages: dict[str, list[list[str]]] = {}
    provided: set[str] = set()
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", stanza, re.M))
        if "Package" not in fields:
            continue
        groups = [
            [re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]
            for key in ("Pre-Depends", "Depends")
            for group in fields.get(key, "").split(",")
            if group.strip()
        ]
        packages.setdefault(fields["Package"], []).extend(groups)
        provided |= {
            re.split(r"[\s(]", p.strip(), maxsplit=1)[0] for p in fields.get("Provides", "").split(",") if p.strip()
        }
    return packages, provided


def unresolved(names: tuple[str, ...]) -> list[str]:
    """What of ``names`` and their dependency closure the index cannot satisfy, as ``needer -> need``."""
    packages, provided = index()
    missing = [f"profile -> {n}" for n in names if n not in packages]
    todo, seen = [n for n in names if n in packages], set(names)
    while todo:
        name = todo.pop()
        for group in packages[name]:
            real = [alt for alt in group if alt in packages]
            if not real and not any(alt in provided for alt in group):
                missing.append(f"{name} -> {' | '.join(group)}")
            elif real and real[0] not in seen:
                seen.add(real[0])
                todo.append(real[0])
    return missing


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.toml")), ids=lambda p: p.stem)
def test_every_debian_package_of_the_profile_resolves_in_bookworm(path: Path):
    profile = load(path)
    assert unresolved(profile.packages["debian"]) == []


def test_a_misspelt_name_does_fail():
    packages, _ = index()
    assert len(packages) > 50_000 and "openssh-server" in packages
    assert unresolved(("openssh-servr",)) == ["profile -> openssh-servr"]
    assert unresolved(("wmenu",)) == ["profile -> wmenu"], "wmenu is not in bookworm (the reason sway uses wofi)"
