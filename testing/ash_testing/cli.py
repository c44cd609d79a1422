"""The real ``ash`` CLI, run in a subprocess as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ASH = [sys.executable, "-m", "ashcore"]


class Ash:
    """Runs the real ``ash`` CLI in a subprocess against one sysroot."""

    def __init__(self, sysroot: Path) -> None:
        self.sysroot = sysroot

    @property
    def store(self) -> Path:
        return self.sysroot / ".snapshots"

    def snapshot(self, sid: int) -> Path:
        return self.store / "rootfs" / f"snapshot-{sid}"

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return [*ASH, "--sysroot", os.fspath(self.sysroot), *(os.fspath(a) for a in args)]

    def __call__(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        input: str | None = None,
        env: dict | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"ash {' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env={**os.environ, **(env or {})}, text=True, **kwargs)

    def tree_json(self) -> dict:
        return json.loads(self("tree", "--json").stdout)

    def ids(self) -> set[int]:
        def walk(nodes: Sequence[dict]) -> Iterator[int]:
            for n in nodes:
                yield n["id"]
                yield from walk(n["children"])

        return set(walk(self.tree_json()["tree"]))

    def fail(self, *args: str, status: int | None = None, alone: bool = False, env: dict | None = None) -> str:
        """Run an ash command that must fail (with ``status``, when given) and return its one
        ``ash: error:`` line, checked to be the only one, with no traceback (and, if ``alone``,
        nothing else on stderr)."""
        proc = self(*args, check=False, env=env)
        assert proc.returncode != 0 if status is None else proc.returncode == status, proc
        errors = error_lines(proc)
        assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert not alone or proc.stderr.strip() == errors[0], proc.stderr
        return errors[0]


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``ash: error:`` lines of a run's stderr."""
    return [line for line in proc.stderr.splitlines() if line.startswith("ash: error:")]


def run_bytes(store: Ash, *args: bytes, **kwargs) -> subprocess.CompletedProcess[bytes]:
    """The CLI with arguments given as bytes, as a shell passes them."""
    argv = [*map(os.fsencode, ASH), b"--sysroot", os.fsencode(store.sysroot), *args]
    return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, **kwargs)
