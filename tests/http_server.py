"""A local HTTP server for the download tests (127.0.0.1, a free port).

`local_http_server(routes)` serves `routes[path]`, an `Answer`, and 404 for
any other path; the test may change `routes` while the server runs (a
server that is "fixed" between a failed download and its retry).
`local_http_server(directory=...)` serves the files of a directory instead.
"""

import contextlib
import functools
import http.server
import threading
from typing import NamedTuple, Optional


class Answer(NamedTuple):
    """What the server answers for a path: a status, the body, its content
    type and the announced Content-Length (None: the body's length; a
    larger one makes a download that is cut short)."""

    status: int
    body: bytes
    content_type: str = "application/octet-stream"
    length: Optional[int] = None


NOT_FOUND = Answer(404, b"not found", "text/plain")


class _RouteHandler(http.server.BaseHTTPRequestHandler):
    routes = None

    def do_GET(self):
        answer = self.routes.get(self.path, NOT_FOUND)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body) if answer.length is None else answer.length))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_http_server(routes=None, directory=None):
    """Yields the server's base URL (`http://127.0.0.1:PORT`); the server
    stops when the block ends.

    Args:
        routes: dict path -> `Answer` (read at every request).
        directory: serve the files of this directory instead.
    """
    if directory is not None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    else:
        handler = type("Handler", (_RouteHandler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
