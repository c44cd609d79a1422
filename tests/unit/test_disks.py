"""Sizes as the installer's --size takes them."""

from __future__ import annotations

import pytest

from ashcore.errors import UsageError
from ashcore.install.disks import GiB, parse_size


@pytest.mark.parametrize(
    "text, size",
    [
        ("8G", 8 * GiB),
        ("8g", 8 * GiB),
        ("8GiB", 8 * GiB),
        ("8GB", 8 * GiB),
        ("512M", 512 << 20),
        ("100K", 100 << 10),
        ("2T", 2 << 40),
        ("1.5G", 3 * GiB // 2),
        (" 4G ", 4 * GiB),
        ("4096", 4096),
        ("4096B", 4096),
    ],
)
def test_parse_size_takes_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "GiB", "eight", "8X", "8 G G", "1,5G", "nanG", "infG", "1e400M"])
def test_parse_size_refuses_what_is_not_a_size_with_a_hint(text):
    with pytest.raises(UsageError, match=f"^'{text}' is not a size$") as refused:
        parse_size(text)
    assert refused.value.hint == "write it like 8G or 512M"
