"""`ash chroot` on a real pseudo-terminal gives an interactive shell, as a login on a console would."""

from __future__ import annotations

import re

from ash_testing.terminal import talk


def test_chroot_on_a_terminal_is_an_interactive_shell(store):
    store("clone", "0")
    # quotes keep the typed (echoed) line from matching what the shell prints
    status, shown = talk(
        store.argv("chroot", "1"), 'echo "FLAGS:"$-; [ -t 2 ] && echo "STDERR""TTY"; touch /kept; exit 0\n'
    )
    assert status == 0, shown
    flags = re.findall(r"FLAGS:(\w+)", shown)
    assert flags and "i" in flags[0], shown
    assert "STDERRTTY" in shown, shown
    assert (store.snapshot(1) / "kept").exists()
