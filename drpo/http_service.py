"""An HTTP server that runs on a daemon thread: what the simulated LLM's server and the
aligned model's server share (start, stop, a context manager, the port it listens on)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing.Self is Python 3.11+; annotations are never evaluated at run time
    from typing import Self


class BackgroundServer:
    """``with server: ...`` serves on a daemon thread until the block ends; `serve_forever`
    serves on the calling thread. A subclass sets `_httpd` (its ``ThreadingHTTPServer``) in
    its ``__init__``, and `poll_interval` (seconds between shutdown checks) if it must stop
    faster than the default."""

    _httpd: ThreadingHTTPServer
    poll_interval: float = 0.5

    @property
    def port(self) -> int:
        """The port it listens on (the one picked when it was asked for port 0)."""
        return int(self._httpd.server_address[1])

    def start(self) -> Self:
        """Serve on a daemon thread; return at once."""
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": self.poll_interval},
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until `stop` is called from another one (or Ctrl-C)."""
        self._httpd.serve_forever(poll_interval=self.poll_interval)

    def serve_until_interrupted(self) -> None:
        """Serve on this thread until Ctrl-C (or `stop` from another thread), then stop."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
