"""The markers ``root`` and ``slow``, registered wherever the tests run, and ``root`` put by the
fixtures: on every test whose fixtures include :func:`~ash_testing.fixtures.root_tools`, which each
fixture that needs root, btrfs or loop devices depends on. So ``pytest -m "not root"`` runs exactly
what an ordinary user can."""

from __future__ import annotations

import pytest

ROOT_FIXTURE = "root_tools"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "root: needs root, btrfs and loop devices (set by the fixtures; fails instead of skipping when CI is set)",
    )
    config.addinivalue_line("markers", "slow: builds a Debian root or boots QEMU")


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ROOT_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.root)
