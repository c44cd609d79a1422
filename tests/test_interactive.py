"""`ash chroot` on a real pseudo-terminal gives an interactive shell, as a login on a console would."""

from __future__ import annotations

import os
import pty
import re
import select
import time


def talk(argv: list[str], line: str, prompt: bytes = b"# ", timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` on a new pseudo-terminal; type ``line`` once ``prompt`` shows; return its exit
    status and everything it showed."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    shown, typed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not typed and prompt in shown:
                os.write(master, line.encode())
                typed = True
            if not select.select([master], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last user is gone
                break
            if not chunk:
                break
            shown += chunk
        else:
            os.kill(pid, 9)
    finally:
        os.close(master)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return status, shown.decode(errors="replace")


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
