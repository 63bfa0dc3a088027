"""Local HTTP servers that emulate the live services (Kaggle, BrickInsights, Rebrickable) over loopback."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

# A route returns (status, headers, body) or None for 404; it may also write to the handler itself
# (to emulate a dropped or truncated response) and return "handled".
Route = Callable[[BaseHTTPRequestHandler], "tuple[int, dict[str, str], bytes] | str | None"]


class Emulator:
    """A threaded HTTP server on 127.0.0.1:<free port>; `with Emulator(route) as server:` → `server.url`.

    `requests` counts hits per path, so tests can assert nothing was fetched twice.
    """

    def __init__(self, route: Route):
        self.route = route
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with emulator.lock:
                    emulator.requests[self.path.split("?")[0]] += 1
                result = emulator.route(self)
                if result == "handled":
                    return
                status, headers, body = result if result is not None else (404, {}, b"not found")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *_: None  # clients hanging up mid-response are part of the tests
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Emulator:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
