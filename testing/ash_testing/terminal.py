"""Programs run on a real pseudo-terminal, as a person at a console runs them."""

from __future__ import annotations

import os
import pty
import select
import time


def talk(argv: list[str], line: str | None = None, prompt: bytes = b"# ", timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` on a new pseudo-terminal; type ``line`` (if any) once ``prompt`` shows; return its
    exit status and everything it showed."""
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
            if line is not None and not typed and prompt in shown:
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
