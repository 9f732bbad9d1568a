import threading

import h3.api.basic_int as h3i
import numpy as np
import pytest
import torch

import satcle
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.core.errors import CoordinateError, GridFormatError, GridNotFoundError, OutsideCoverageError
from satcle.grid.format.store import MANIFEST_FILE, dequantize
from satcle.grid.lookup import GRID_ENV, Source, default_grid_dir
from satcle.grid.lookup.shared_grids import clear_shared_grids
from build_grid.engine import write_cells
from satcle.geo import unit_vectors
from satcle.geo.h3_cells import cell_children, cells_at_resolution


DIM = 32


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(7)
    model = LocationEncoder(EncoderConfig(legendre_degree=6, hidden_dim=64, output_dim=DIM))
    model.metadata.update(name="test", sha256="0" * 64)
    return model


@pytest.fixture(scope="module")
def global_grid(encoder, tmp_path_factory):
    """Every cell of resolution 2, with interp_error."""
    path = write_cells(tmp_path_factory.mktemp("g2"), encoder, cells_at_resolution(2))
    return open_grid(path, encoder=encoder)


@pytest.fixture(scope="module")
def patch_cells():
    """Res-3 cells under res-0 cells at both poles, on the antimeridian and two pentagons."""
    roots = {c for c in h3i.get_res0_cells() if h3i.is_pentagon(c)}
    roots = sorted(roots)[:2] + [h3i.latlng_to_cell(lat, lon, 0) for lat, lon in
                                 [(89.9, 0), (-89.9, 0), (10, 179.99), (10, -179.99)]]
    return cell_children(np.array(sorted(set(roots)), dtype=np.uint64), 3)


@pytest.fixture(scope="module")
def patch_grid(encoder, patch_cells, tmp_path_factory):
    """Resolution 3 (class III: cells crossing icosahedron edges are not convex), partial coverage."""
    path = write_cells(tmp_path_factory.mktemp("p3"), encoder, patch_cells, dtype="int8", error_bound=False)
    return open_grid(path, encoder=encoder)


def h3_rows(grid, lats, lons):
    return grid.rows_of([h3i.latlng_to_cell(a, b, grid.resolution) for a, b in zip(lats, lons)])


def stored(grid):
    return dequantize(grid.table.values, grid.table.scale)


@pytest.mark.parametrize("grid_name", ["global_grid", "patch_grid"])
def test_cell_agrees_with_h3_on_100k_points(request, rng, grid_name, sphere_points):
    grid = request.getfixturevalue(grid_name)
    lats, lons = sphere_points(rng, 100_000)
    rows = h3_rows(grid, lats, lons)
    emb, source = grid.lookup(lats, lons, method="cell", on_miss="nan", return_source=True)
    covered = rows >= 0
    assert covered.sum() > 1000
    np.testing.assert_array_equal(source, np.where(covered, Source.GRID, Source.MISS_NAN))
    np.testing.assert_array_equal(emb[covered], stored(grid)[rows[covered]])
    assert np.isnan(emb[~covered]).all()


def test_interp_reproduces_stored_rows_at_centres(global_grid):
    lats, lons = global_grid.table.lat, global_grid.table.lon
    emb = global_grid.lookup(lats, lons)
    np.testing.assert_allclose(emb, stored(global_grid), rtol=1e-5, atol=1e-6)


def test_interp_beats_cell_against_live(global_grid, encoder, rng, sphere_points):
    lats, lons = sphere_points(rng, 5000)
    live = encoder.encode(lats, lons)
    err_cell = np.linalg.norm(global_grid.lookup(lats, lons, method="cell") - live, axis=1)
    err_interp = np.linalg.norm(global_grid.lookup(lats, lons) - live, axis=1)
    assert np.median(err_interp) < 0.5 * np.median(err_cell)


def to_degrees(xyz):
    xyz = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    return np.degrees(np.arcsin(xyz[:, 2])), np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))


def across_edges(cells, step=1e-6):
    """Pairs of points just inside and just outside cells, through vertices and edge midpoints."""
    centres, boundary = [], []
    for cell in cells:
        centre = unit_vectors(*np.array([h3i.cell_to_latlng(cell)]).T)
        corners = np.array(h3i.cell_to_boundary(cell))
        vertices = unit_vectors(corners[:, 0], corners[:, 1])
        for q in np.concatenate([vertices, vertices + np.roll(vertices, -1, axis=0)]):
            centres.append(centre[0])
            boundary.append(q / np.linalg.norm(q))
    centres, boundary = np.array(centres), np.array(boundary)
    inside = to_degrees(centres + (boundary - centres) * (1 - step))
    outside = to_degrees(centres + (boundary - centres) * (1 + step))
    return (*inside, *outside)


def test_interp_is_continuous_across_cell_edges(global_grid):
    cells = global_grid.table.h3[::40].tolist()
    lat_a, lon_a, lat_b, lon_b = across_edges(cells)
    assert np.mean(h3_rows(global_grid, lat_a, lon_a) != h3_rows(global_grid, lat_b, lon_b)) > 0.99
    jump = {m: np.linalg.norm(global_grid.lookup(lat_a, lon_a, method=m)
                              - global_grid.lookup(lat_b, lon_b, method=m), axis=1) for m in ("cell", "interp")}
    scale = np.linalg.norm(stored(global_grid), axis=1).mean()
    assert jump["cell"].max() > 1e-2 * scale  # the check can see a seam ...
    assert jump["interp"].max() < 1e-4 * scale  # ... and interp has none


def test_interp_is_continuous_across_the_antimeridian(global_grid, patch_grid):
    lats = np.linspace(-89.0, 89.0, 301)
    for grid in (global_grid, patch_grid):
        east = grid.lookup(lats, np.full_like(lats, 179.9999999), on_miss="nan")
        west = grid.lookup(lats, np.full_like(lats, -179.9999999), on_miss="nan")
        both = ~np.isnan(east).any(axis=1) & ~np.isnan(west).any(axis=1)
        assert both.sum() > 20
        assert np.abs(east[both] - west[both]).max() < 1e-4 * np.abs(east[both]).max()


@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_interp_is_continuous_at_the_poles(global_grid, patch_grid, pole):
    lons = np.linspace(-180.0, 180.0, 97)
    for grid in (global_grid, patch_grid):
        at_pole = grid.lookup([pole], [0.0])
        near = grid.lookup(np.full_like(lons, pole - np.sign(pole) * 1e-7), lons)
        assert np.abs(near - at_pole).max() < 1e-4 * np.abs(at_pole).max()


def test_tolerance_routes_exactly_the_cells_above_it(global_grid, encoder, rng, sphere_points):
    lats, lons = sphere_points(rng, 20_000)
    bound = global_grid.table.interp_error[h3_rows(global_grid, lats, lons)]
    tolerance = float(np.median(bound))
    emb, source = global_grid.lookup(lats, lons, tolerance=tolerance, return_source=True)
    above = bound > tolerance
    assert 0 < above.sum() < above.size
    np.testing.assert_array_equal(source, np.where(above, Source.LIVE, Source.GRID))
    np.testing.assert_array_equal(emb[above], encoder.encode(lats[above], lons[above]))
    np.testing.assert_array_equal(emb[~above], global_grid.lookup(lats, lons)[~above])


def test_error_bound_holds_on_random_points(global_grid, encoder, rng, sphere_points):
    lats, lons = sphere_points(rng, 20_000)
    live = encoder.encode(lats, lons)
    relative = np.linalg.norm(global_grid.lookup(lats, lons) - live, axis=1) / np.linalg.norm(live, axis=1)
    bound = global_grid.table.interp_error[h3_rows(global_grid, lats, lons)]
    assert np.all(relative <= 1.5 * bound)
    assert np.mean(relative <= bound) > 0.99


def test_exact_computes_every_point_live(global_grid, encoder, rng, sphere_points):
    lats, lons = sphere_points(rng, 300)
    emb, source = global_grid.lookup(lats, lons, exact=True, return_source=True)
    np.testing.assert_array_equal(emb, encoder.encode(lats, lons))
    assert np.all(source == Source.LIVE)


def test_on_miss_live_nan_raise(patch_grid, encoder, rng, sphere_points):
    lats, lons = sphere_points(rng, 3000)
    outside = h3_rows(patch_grid, lats, lons) < 0
    assert 0 < outside.sum() < outside.size
    emb, source = patch_grid.lookup(lats, lons, return_source=True)
    np.testing.assert_array_equal(source == Source.MISS_LIVE, outside)
    np.testing.assert_array_equal(emb[outside], encoder.encode(lats[outside], lons[outside]))
    emb, source = patch_grid.lookup(lats, lons, on_miss="nan", return_source=True)
    np.testing.assert_array_equal(np.isnan(emb).all(axis=1), outside)
    assert not np.isnan(emb[~outside]).any()
    with pytest.raises(OutsideCoverageError, match=f"point {np.argmax(outside)} "):
        patch_grid.lookup(lats, lons, on_miss="raise")
    patch_grid.lookup(lats[~outside], lons[~outside], on_miss="raise")


@pytest.mark.parametrize("lats, lons, message", [
    ([0.0, np.nan], [0.0, 1.0], "finite"),
    ([95.0], [0.0], "outside"),
    ([0.0, 1.0], [0.0], "same length"),
    ([[0.0]], [[0.0]], "1-D"),
])
def test_bad_coordinates_raise(global_grid, lats, lons, message):
    with pytest.raises(CoordinateError, match=message):
        global_grid.lookup(lats, lons)


def test_empty_input_and_bad_options(global_grid, patch_grid):
    emb, source = global_grid.lookup([], [], return_source=True)
    assert emb.shape == (0, DIM) and emb.dtype == np.float32 and source.shape == (0,)
    with pytest.raises(ValueError, match="method"):
        global_grid.lookup([0.0], [0.0], method="nearest")
    with pytest.raises(ValueError, match="on_miss"):
        global_grid.lookup([0.0], [0.0], on_miss="skip")
    with pytest.raises(ValueError, match="interp"):
        global_grid.lookup([0.0], [0.0], method="cell", tolerance=0.1)
    with pytest.raises(ValueError, match="tolerance"):
        global_grid.lookup([0.0], [0.0], tolerance=-1.0)
    with pytest.raises(GridFormatError, match="interp_error"):
        patch_grid.lookup([0.0], [0.0], tolerance=0.1)


def test_longitudes_are_wrapped(global_grid):
    np.testing.assert_array_equal(global_grid.lookup([10.0], [200.0]), global_grid.lookup([10.0], [-160.0]))


def test_concurrent_lookups_on_one_grid_agree_with_sequential(global_grid, rng, sphere_points):
    batches = [sphere_points(rng, 20_000) for _ in range(4)]
    expected = [global_grid.lookup(lats, lons) for lats, lons in batches]
    results = [None] * len(batches)

    def work(i):
        for _ in range(3):
            results[i] = global_grid.lookup(*batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_open_grid_errors(tmp_path, global_grid):
    with pytest.raises(GridNotFoundError, match="satcle-grid build"):
        open_grid(tmp_path / "absent")
    with pytest.raises(GridFormatError, match="missing"):
        open_grid(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(GridFormatError, match="corrupt"):
        open_grid(tmp_path)


def test_lookup_files_of_another_layout_are_refused_with_the_rebuild_command(tmp_path, encoder):
    import dataclasses

    from satcle.grid.format.store import read_manifest, write_manifest

    path = write_cells(tmp_path / "g", encoder, cells_at_resolution(1), error_bound=False)
    manifest = read_manifest(path)
    write_manifest(path, dataclasses.replace(manifest, lookup=dataclasses.replace(manifest.lookup, version=1)))
    with pytest.raises(GridFormatError, match=r"lookup files of layout 1, this satcle reads layout 2; rebuild it "
                                              r"with `satcle-grid build --res 1 .*--out "):
        open_grid(path, encoder=encoder)


def test_missing_truncated_or_corrupt_lookup_file(tmp_path, encoder):
    path = write_cells(tmp_path / "g", encoder, cells_at_resolution(0)[:3], error_bound=False)
    rows = path / "lookup" / "values.npy"
    data = bytearray(rows.read_bytes())
    data[-1] ^= 0x01
    rows.write_bytes(bytes(data))           # same size: found by the checksum (the default open's)
    with pytest.raises(GridFormatError, match="values.npy is corrupt: checksum"):
        open_grid(path, encoder=encoder)
    assert open_grid(path, encoder=encoder, verify_checksums=False).num_cells == 3
    rows.write_bytes(bytes(data[:-2]))
    with pytest.raises(GridFormatError, match="values.npy is corrupt: checksum"):
        open_grid(path)
    with pytest.raises(GridFormatError, match="values.npy has .* bytes, the manifest says"):
        open_grid(path, verify_checksums=False)
    (path / "lookup" / "centres.npy").unlink()
    rows.unlink()
    with pytest.raises(GridFormatError, match=r"centres.npy: listed in the manifest but missing \(and 1 more files\)"):
        open_grid(path)
    with pytest.raises(GridFormatError, match="values.npy: lookup file listed in the manifest is missing"):
        open_grid(path, verify_checksums=False)


def test_default_grid_location(tmp_path, monkeypatch, encoder):
    monkeypatch.setenv(GRID_ENV, str(tmp_path / "nowhere"))
    assert default_grid_dir() == tmp_path / "nowhere"
    with pytest.raises(GridNotFoundError, match=r"satcle-grid build") as info:
        satcle.lookup([0.0], [0.0])
    # What building costs, and the two alternatives: a grid you have, or the live encoder.
    assert "GB of disk" in str(info.value) and "grid=DIR" in str(info.value)
    assert "satcle.load_encoder('default').encode(lats, lons)" in str(info.value)
    monkeypatch.delenv(GRID_ENV)
    # Without $SATCLE_GRID: where `satcle-grid build` writes with its defaults, under the cache root.
    monkeypatch.delenv("SATCLE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_grid_dir() == tmp_path / "cache" / "satcle" / "grids" / "default-r6-land-float16"
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path / "root"))
    assert default_grid_dir() == tmp_path / "root" / "grids" / "default-r6-land-float16"
    path = write_cells(tmp_path / "g", encoder, cells_at_resolution(0), error_bound=False)
    monkeypatch.setenv(GRID_ENV, str(path))
    emb = satcle.lookup([0.0, 45.0], [0.0, 90.0], method="cell")
    grid = open_grid(path, encoder=encoder)
    np.testing.assert_array_equal(emb, grid.lookup([0.0, 45.0], [0.0, 90.0], method="cell"))


def test_duckdb_function_matches_lookup(global_grid, rng, sphere_points):
    import duckdb

    from satcle.grid.sql import register_embedding_function

    lats, lons = sphere_points(rng, 5000)
    con = duckdb.connect()
    register_embedding_function(con, global_grid)
    con.execute("CREATE TABLE points AS SELECT * FROM (SELECT unnest($1) AS lat, unnest($2) AS lon)",
                [lats.tolist(), lons.tolist()])
    con.execute("INSERT INTO points VALUES (NULL, 0.0)")
    rows = con.execute("SELECT satcle_embedding(lat, lon) FROM points").fetchall()
    got = np.array([r[0] for r in rows[:-1]], dtype=np.float32)
    np.testing.assert_array_equal(got, global_grid.lookup(lats, lons))
    assert rows[-1][0] is None


def test_out_buffer_is_filled_in_place(global_grid, rng, sphere_points):
    lats, lons = sphere_points(rng, 1000)
    buffer = np.full((lats.size, DIM), -1.0, dtype=np.float32)
    assert global_grid.lookup(lats, lons, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, global_grid.lookup(lats, lons))
    with pytest.raises(ValueError, match="out must be"):
        global_grid.lookup(lats, lons, out=np.empty((lats.size, DIM), dtype=np.float64))


def test_aligned_and_unaligned_outputs_agree(global_grid, rng, sphere_points):
    # Returned arrays are 64-byte aligned (float16 rows are then streamed past
    # the cache a line at a time); a caller's buffer 16 bytes off (numpy's own
    # alignment) is streamed 16 bytes at a time, one 4 bytes off takes the ordinary stores.
    lats, lons = sphere_points(rng, 1000)
    returned = global_grid.lookup(lats, lons)
    assert returned.ctypes.data % 64 == 0
    raw = np.empty(lats.size * DIM * 4 + 128, dtype=np.uint8)   # room for a 64-byte boundary plus the offset
    for offset in (16, 32, 4):
        start = -raw.ctypes.data % 64 + offset
        shifted = raw[start: start + lats.size * DIM * 4].view(np.float32).reshape(lats.size, DIM)
        assert global_grid.lookup(lats, lons, out=shifted) is shifted
        np.testing.assert_array_equal(shifted, returned)


def test_large_calls_processed_in_spatial_order_match_small_calls(patch_grid, rng, sphere_points):
    lats, lons = sphere_points(rng, 60_000)  # above SPATIAL_ORDER_MIN_POINTS
    emb, source = patch_grid.lookup(lats, lons, on_miss="nan", return_source=True)
    parts = [patch_grid.lookup(lats[s:s + 10_000], lons[s:s + 10_000], on_miss="nan", return_source=True)
             for s in range(0, lats.size, 10_000)]
    np.testing.assert_array_equal(emb, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(source, np.concatenate([p[1] for p in parts]))


def test_spatial_order_is_a_stable_sort_by_degree_block(rng, sphere_points):
    from satcle.grid.lookup.grid import spatial_order

    lats, lons = sphere_points(rng, 5_000)
    lats[:4], lons[:4] = [90.0, -90.0, 0.5, 0.5], [180.0, -180.0, 179.999999, 0.5]
    blocks = np.minimum(np.floor(lats + 90), 179) * 360 + np.minimum(np.floor(lons + 180), 359)
    for num_threads in (1, 2, 3):
        order, sorted_lats, sorted_lons = spatial_order(lats, lons, num_threads)
        np.testing.assert_array_equal(order, np.argsort(blocks, kind="stable"))
        np.testing.assert_array_equal(sorted_lats, lats[order])
        np.testing.assert_array_equal(sorted_lons, lons[order])


def test_spatial_order_cut_into_parts_is_the_same_stable_sort(rng):
    """Enough points for several parts (one per 65,536 points at most), all in a few blocks."""
    from satcle.grid.lookup.grid import spatial_order

    lats, lons = rng.uniform(0.0, 2.0, 300_000), rng.uniform(10.0, 12.0, 300_000)
    blocks = np.floor(lats + 90) * 360 + np.floor(lons + 180)
    for num_threads in (1, 2, 4):
        order, sorted_lats, _ = spatial_order(lats, lons, num_threads)
        np.testing.assert_array_equal(order, np.argsort(blocks, kind="stable"))
        np.testing.assert_array_equal(sorted_lats, lats[order])


def test_interp_error_per_partition_matches_whole_grid(global_grid, encoder):
    from satcle.grid.lookup import interp_error

    table = global_grid.table
    parent = h3i.cell_to_parent(int(table.h3[0]), 0)
    partition = np.array(h3i.cell_to_children(parent, 2), dtype=np.uint64)
    around = np.unique(np.array([n for c in partition.tolist() for n in h3i.grid_disk(c, 1)], dtype=np.uint64))
    rows = global_grid.rows_of(around)
    errors = interp_error(encoder, partition, around, table.values[rows], table.scale)
    np.testing.assert_array_equal(errors, table.interp_error[global_grid.rows_of(partition)])
    assert np.all(errors > 0)
    with pytest.raises(ValueError, match="among h3_ids"):
        interp_error(encoder, partition, partition[:3], table.values[global_grid.rows_of(partition[:3])])


def test_points_within_rounding_of_an_edge_are_decided_by_h3(global_grid, rng, monkeypatch, sphere_points):
    import satcle.grid.lookup.grid as grid_module
    from satcle._ext.grid_locate import AMBIGUOUS

    # Widen "within rounding" to 2e-3 rad so that many points take the h3 path
    # (the constant is read when a Grid is made).
    monkeypatch.setattr(grid_module, "EDGE_EPSILON", 2e-3)
    grid = grid_module.Grid(global_grid.table, resolution=global_grid.resolution, index=global_grid.index)
    lats, lons = sphere_points(rng, 5000)
    raw, _, _ = grid.locate(lats, lons, interp=False)
    assert (raw == AMBIGUOUS).sum() > 100
    emb = grid.lookup(lats, lons, method="cell")
    np.testing.assert_array_equal(emb, stored(global_grid)[h3_rows(global_grid, lats, lons)])


@pytest.mark.parametrize("grid_name", ["global_grid", "patch_grid"])
def test_nearest_centre_search_matches_brute_force(request, rng, grid_name, sphere_points):
    # The raster lists, per bucket, the centres that can be nearest to its points;
    # a centre left out of a bucket (near a pole, the antimeridian, a bucket
    # edge) would make the search disagree with the exhaustive one.
    grid = request.getfixturevalue(grid_name)
    lats, lons = sphere_points(rng, 20_000)
    polar = rng.uniform(-1.0, 1.0, 2000)
    lats = np.concatenate([lats, np.sign(polar) * (90.0 - np.abs(polar) ** 2 * 3.0), rng.uniform(-60, 60, 2000)])
    lons = np.concatenate([lons, rng.uniform(-180.0, 180.0, 2000), 180.0 - rng.uniform(0.0, 1e-3, 2000)])
    cell_rows, tri_rows, _ = grid.locate(lats, lons, interp=True, exact_cell=False)
    centres = unit_vectors(grid.table.lat, grid.table.lon).astype(np.float32).astype(np.float64)
    closeness = unit_vectors(lats, lons) @ centres.T
    within = closeness.max(axis=1) > np.cos(np.radians(grid.index.radius_deg))
    np.testing.assert_array_equal(tri_rows[within, 0], closeness[within].argmax(axis=1))
    np.testing.assert_array_equal(cell_rows[~within], -1)
    assert within.mean() > (0.99 if grid_name == "global_grid" else 0.05)


@pytest.mark.parametrize("dim, k", [(256, 3), (37, 3), (256, 1), (256, 2), (64, 5), (256, 8)])
def test_gather_blend_kernels_agree_with_numpy(rng, dim, k):
    """Every float16 kernel, for each number of rows per point (each has its own unrolled loop)."""
    from satcle._ext import grid_blend as kernels
    from satcle.grid.lookup.cell_index import empty_aligned

    m, n = 500, 2_000
    values = rng.normal(size=(m, dim)).astype(np.float16)
    rows = rng.integers(0, m, size=(n, k)).astype(np.int32)
    rows[5, -1] = -1                                  # "no value": a NaN row
    weights = rng.random((n, k)).astype(np.float32)
    destination = rng.permutation(n).astype(np.int64)
    expected = np.einsum("nk,nkd->nd", weights.astype(np.float64), values[rows].astype(np.float64))
    expected[5] = np.nan
    table = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    outputs = {}
    for kernel in range(kernels.BEST_F16_KERNEL + 1):   # every float16 kernel this CPU runs
        out = empty_aligned((n, dim), np.float32)
        kernels.gather_blend(values.view(np.uint16), np.empty(0, np.float32), table, rows, weights, out,
                             destination, f16_kernel=kernel)
        np.testing.assert_allclose(out[destination], expected, rtol=1e-5, atol=1e-5)
        outputs[kernel] = out
    for kernel in range(kernels.F16_AVX2 + 1, kernels.BEST_F16_KERNEL + 1):   # AVX-512 gives AVX2's bits
        np.testing.assert_array_equal(outputs[kernel], outputs[kernels.F16_AVX2])
    with pytest.raises(ValueError, match="half_table"):
        kernels.gather_blend(values.view(np.uint16), np.empty(0, np.float32), np.empty(0, np.float32), rows,
                             weights, empty_aligned((n, dim), np.float32), destination)
    int8 = rng.integers(-127, 128, size=(m, dim)).astype(np.int8)
    scale = rng.random(m).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    kernels.gather_blend(int8, scale, np.empty(0, np.float32), rows, weights, out, np.empty(0, np.int64))
    reference = np.einsum("nk,nkd->nd", weights * scale[rows], int8[rows].astype(np.float32))
    reference[5] = np.nan
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="not available"):
        kernels.gather_blend(int8, scale, np.empty(0, np.float32), rows, weights, out, np.empty(0, np.int64),
                             f16_kernel=kernels.BEST_F16_KERNEL + 1)


def test_float16_output_rounds_like_numpy_in_every_kernel(rng):
    """float16 output is the float32 blend rounded to nearest even: the F16C path
    and the portable one (F16_TABLE) give numpy's values, specials included."""
    from satcle._ext import grid_blend as kernels
    from satcle.grid.lookup.cell_index import empty_aligned

    tiny = 2.0 ** -24                                 # the smallest float16 subnormal
    specials = np.array([0.0, -0.0, 1.0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504.0, 65519.99, 65520.0, 1e10, -1e10,
                         np.inf, -np.inf, np.nan, tiny, tiny / 2, tiny / 2 * 1.0001, 3 * tiny / 2, tiny / 3,
                         2.0 ** -14, 2.0 ** -14 * (1 - 2 ** -12), 1e-30, -3.3e-6], dtype=np.float32)
    magnitudes = (rng.normal(size=400) * 2.0 ** rng.integers(-30, 18, 400)).astype(np.float32)
    values = np.concatenate([specials, magnitudes])[None, :]          # one row, 422 columns (a tail)
    rows, weights = np.zeros((3, 1), np.int32), np.ones((3, 1), np.float32)
    rows[2, 0] = -1                                                    # a missing row: float16 NaN
    expected = np.repeat(values, 3, axis=0).astype(np.float16)
    expected[2] = np.nan
    for kernel in range(kernels.BEST_F16_KERNEL + 1):
        for stored, table in ((values, np.empty(0, np.float32)),
                              (values.astype(np.float16).view(np.uint16),
                               np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32))):
            out = empty_aligned((3, values.shape[1]), np.float16)
            kernels.gather_blend(stored, np.empty(0, np.float32), table, rows, weights, out.view(np.uint16),
                                 np.empty(0, np.int64), f16_kernel=kernel)
            reference = expected if stored.dtype == np.float32 else np.repeat(stored, 3, axis=0).view(np.float16)
            reference = reference.copy()
            reference[2] = np.nan
            # Equal as numbers (the SIMD blend's accumulator starts at +0, so -0 may come out +0).
            np.testing.assert_array_equal(out[:2], reference[:2])
            assert np.isnan(out[2]).all()


@pytest.mark.parametrize("grid_name", ["global_grid", "patch_grid"])   # float16 and int8 rows
def test_float16_output_is_the_float32_lookup_rounded(request, rng, grid_name, sphere_points):
    grid = request.getfixturevalue(grid_name)
    lats, lons = sphere_points(rng, 60_000)          # above SPATIAL_ORDER_MIN_POINTS: permuted writes too
    for method in ("cell", "interp"):
        full = grid.lookup(lats, lons, method=method, on_miss="nan")
        half = grid.lookup(lats, lons, method=method, on_miss="nan", dtype=np.float16)
        assert half.dtype == np.float16 and half.ctypes.data % 64 == 0
        np.testing.assert_array_equal(half, full.astype(np.float16))
        out = np.empty_like(half)
        assert grid.lookup(lats, lons, method=method, on_miss="nan", out=out) is out   # dtype from out
        np.testing.assert_array_equal(out, half)
    # Live rows (exact=True, on_miss="live") are rounded too.
    live = grid.lookup(lats[:50], lons[:50], exact=True, dtype="float16")
    np.testing.assert_array_equal(live, grid.lookup(lats[:50], lons[:50], exact=True).astype(np.float16))


def test_verified_open_serves_the_very_pages_it_hashed(tmp_path, encoder, monkeypatch):
    """The lookup files are hashed through the mappings the arrays are then built on
    (their pages are mapped by the checksum pass, and a file replaced after the check
    cannot slip in); without the checksum pass nothing is mapped ahead."""
    from satcle.grid.lookup import grid as grid_module

    path = write_cells(tmp_path / "g", encoder, cells_at_resolution(1), error_bound=False)
    hashed = []
    check = grid_module.check_grid_files
    monkeypatch.setattr(grid_module, "check_grid_files",
                        lambda *args: (hashed.append(dict(args[2])), check(*args))[1])
    clear_shared_grids()
    grid = open_grid(path, encoder=encoder)
    mappings = hashed[0]
    values_file = next(f.file for f in grid.manifest.lookup.files if f.name == "values")
    base = grid.table.values
    while not isinstance(base, type(mappings[values_file])):
        base = base.base if isinstance(base, np.ndarray) else base.obj   # array views, then the buffer's owner
    assert base is mappings[values_file]
    assert set(mappings) == {f.file for f in grid.manifest.lookup.files}
    clear_shared_grids()
    hashed.clear()
    open_grid(path, encoder=encoder, verify_checksums=False)
    assert hashed == []


def test_unit_vectors_agree_with_numpy_on_both_paths(rng):
    """`locate`'s unit vectors: libmvec four at a time (where VECTOR_TRIG) and libm per point."""
    from satcle._ext import grid_locate

    n = 10_003                                         # not a multiple of 4: a tail
    lats = np.concatenate([[90.0, -90.0, 0.0, 45.0, -0.0], rng.uniform(-90.0, 90.0, n - 5)])
    lons = np.concatenate([[180.0, -180.0, 0.0, -179.999999, 1e-12], rng.uniform(-180.0, 180.0, n - 5)])
    phi, lam = np.radians(lats), np.radians(lons)
    expected = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    outputs = []
    for vector in (True, False):
        out = np.full((n, 3), np.nan)
        grid_locate.unit_vectors(lats, lons, out, vector=vector)
        np.testing.assert_allclose(out, expected, rtol=0, atol=2e-15)
        outputs.append(out)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=2e-15)
    with pytest.raises(ValueError, match="three columns"):
        grid_locate.unit_vectors(lats, lons, np.empty((n, 2)))
