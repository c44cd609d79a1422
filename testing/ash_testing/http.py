"""Package repositories served over HTTP on 127.0.0.1, recording who asked for what."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from typing import NamedTuple

_PREFIX = re.compile(r"^/snapshot-(\d+)/")
_AGENT = re.compile(r"snapshot-(\d+)")


class Request(NamedTuple):
    agent: str  # the User-Agent header
    path: str  # as asked for, with any /snapshot-N/ prefix

    @property
    def snapshot(self) -> int | None:
        """The snapshot that asked, as its path prefix or its User-Agent names it."""
        found = _PREFIX.match(self.path) or _AGENT.fullmatch(self.agent)
        return int(found.group(1)) if found else None


class _Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        del self.headers["If-Modified-Since"]  # a test's repository changes within one second: never 304
        self.server.requests.append(Request(self.headers.get("User-Agent", ""), self.path))
        return super().send_head()

    def translate_path(self, path: str) -> str:
        return super().translate_path(_PREFIX.sub("/", path))

    def log_message(self, *args) -> None:
        pass


class _Recording(http.server.ThreadingHTTPServer):
    requests: list[Request]

    def __init__(self, *args, **kwargs) -> None:
        self.requests = []
        super().__init__(*args, **kwargs)


class Server:
    """Serves ``directory`` on 127.0.0.1 from a thread and records every request. A client says
    which snapshot asks by its User-Agent (``snapshot-N``) or by asking under ``/snapshot-N/``,
    which serves the same files."""

    def __init__(self, directory: Path) -> None:
        self._httpd = _Recording(("127.0.0.1", 0), functools.partial(_Handler, directory=directory))
        self.requests = self._httpd.requests
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def visits(self, suffix: str) -> list[int | None]:
        """The snapshots that asked for a path ending in ``suffix``, in order (None for a request
        that named no snapshot)."""
        return [r.snapshot for r in self.requests if r.path.endswith(suffix)]

    def stop(self) -> None:
        """Stop answering; stopping a stopped server does nothing."""
        self._httpd.shutdown()
        self._httpd.server_close()
