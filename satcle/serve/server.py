"""The map's HTTP server: the standard library's `ThreadingHTTPServer`, GET only,
JSON for every answer but the page's files, with bounds on what one client can hold.

Bounds: a request target over `MAX_URL_BYTES` gets 414, a body 413, more than
`MAX_CONCURRENT_REQUESTS` at once 503; each connection's socket times out after
`REQUEST_TIMEOUT_S` and is shut after `REQUEST_DEADLINE_S` (a client trickling
bytes). Bound to loopback, only loopback Host names are answered (no DNS
rebinding). Errors: 400 with the parameter's message, 404, 405, 503 with the
message of any other satcle error (e.g. a point outside coverage while the grid's
model is not installed for the live encoder), and 500 without detail for anything
else (the traceback goes to stderr).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from satcle.core.errors import CoordinateError, InvalidArgumentError, SatcleError

from .api import ROUTES
from .grid_map import GridMap
from .static import static_file

MAX_URL_BYTES = 4096          # longer request targets: 414
REQUEST_TIMEOUT_S = 10.0      # socket timeout of each connection (slow or idle clients are dropped)
MAX_CONCURRENT_REQUESTS = 16  # handler threads at once; more connections get 503
REQUEST_DEADLINE_S = 60.0     # a connection still open after this is shut (a client trickling bytes)


class _Handler(BaseHTTPRequestHandler):
    server_version = "satcle-serve"
    timeout = REQUEST_TIMEOUT_S     # applied to the connection's socket: bounds slow clients
    protocol_version = "HTTP/1.0"   # one request per connection
    server: "MapServer"

    def setup(self):
        super().setup()
        self._expired = False
        # The socket timeout bounds each read; this bounds the whole exchange.
        self._deadline = threading.Timer(self.server.request_deadline_s, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self):
        self._deadline.cancel()
        super().finish()

    def _expire(self):
        self._expired = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._respond(head=False)

    def do_HEAD(self):
        self._respond(head=True)

    def _not_allowed(self):
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"method {self.command} not allowed: GET only"},
                   extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def send_error(self, code, message=None, explain=None):
        # The standard handler answers malformed requests with an HTML page; this server answers JSON.
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def _respond(self, head: bool):
        if self._expired:  # cut off while its request was read: nobody to answer
            return None
        if not self.server.host_allowed(self.headers.get("Host", "")):
            # Bound to loopback, only loopback names: a page elsewhere that rebinds its own
            # domain name to 127.0.0.1 (DNS rebinding) cannot read the API.
            return self._json(HTTPStatus.FORBIDDEN, {"error": "Host header not allowed"})
        if len(self.path.encode()) > MAX_URL_BYTES:
            return self._json(HTTPStatus.REQUEST_URI_TOO_LONG, {"error": f"request target over {MAX_URL_BYTES} bytes"})
        length = self.headers.get("Content-Length")
        if length not in (None, "0"):
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "GET requests take no body"})
        url = urlsplit(self.path)
        try:
            params = parse_qs(url.query, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        route = url.path
        try:
            if route.startswith("/api/"):
                api = ROUTES.get(route[len("/api/"):])
                if api is None:
                    return self._json(HTTPStatus.NOT_FOUND, {"error": f"no API {route}", "apis": sorted(ROUTES)})
                document = api(self.server.grid_map, params)
                if isinstance(document, bytes):
                    return self._send(HTTPStatus.OK, document, "application/json")
                return self._json(HTTPStatus.OK, document)
            found = static_file(route)
            if found is None:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"not found: {route}"})
            return self._send(HTTPStatus.OK, *found, {"Cache-Control": "no-cache"})
        except (InvalidArgumentError, CoordinateError) as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except SatcleError as exc:   # e.g. a point off the grid whose model is not installed: the reason, said
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            return None
        except Exception as exc:  # never a traceback page: log it, answer JSON 500
            traceback.print_exc(file=sys.stderr)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"})

    def _json(self, status, document, extra=None):
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, body, "application/json", extra)

    def _send(self, status, body: bytes, content_type: str, extra=None):
        self.send_response(int(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)



class MapServer(ThreadingHTTPServer):
    """The HTTP server over one `GridMap`; request threads are joined on close."""

    daemon_threads = False    # server_close() waits for requests in flight (each bounded by the timeout)
    block_on_close = True
    request_queue_size = 64

    def __init__(self, address, grid_map: GridMap, *, verbose: bool = False,
                 max_requests: int = MAX_CONCURRENT_REQUESTS, request_deadline_s: float = REQUEST_DEADLINE_S):
        self.grid_map = grid_map
        self.verbose = verbose
        self.request_deadline_s = request_deadline_s
        self._slots = threading.BoundedSemaphore(max_requests)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        # At most max_requests handler threads: past that, 503 at once instead of a new thread.
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.recv(65536)  # read the request, so that closing does not reset the connection
                body = b'{"error":"server busy: too many requests at once, retry"}'
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def host_allowed(self, host_header: str) -> bool:
        """Any Host where bound elsewhere; loopback names only where bound to loopback."""
        if not self._loopback:
            return True
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return name.lower() in ("127.0.0.1", "localhost", "[::1]") or name.startswith("127.")

    def server_bind(self):
        super().server_bind()
        host = self.server_address[0]
        self._loopback = host == "::1" or host.startswith("127.")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


class MapServer6(MapServer):
    address_family = socket.AF_INET6


def serve(grid_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False,
          echo=print) -> None:
    """Load the grid, serve it until SIGINT or SIGTERM, then stop accepting, finish the
    requests in flight and close the socket."""
    grid_map = GridMap(grid_dir)
    server = (MapServer6 if ":" in host else MapServer)((host, port), grid_map, verbose=verbose)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    cells = grid_map.grid.num_cells
    echo(f"serving {grid_dir} (resolution {grid_map.resolution}, {cells:,} cells) at {server.url} (Ctrl-C to stop)")
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():
                break
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("stopped")
