import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from satcle.core.errors import GridFormatError, GridNotFoundError
from satcle.grid.format.store import (
    Manifest,
    PartitionInfo,
    dequantize,
    embeddings_from_arrow,
    embeddings_to_arrow,
    partition_schema,
    quantize,
    read_manifest,
    write_manifest,
)


def manifest(**changes):
    base = Manifest(
        library_version="0.1.0", model_name="default", model_sha256="ab" * 32,
        model_config={"legendre_degree": 10}, resolution=3, partition_resolution=0,
        coverage="land", dtype="float16", dim=4, total_cells=5,
        partitions=(PartitionInfo("partitions/a.parquet", 2), PartitionInfo("partitions/b.parquet", 3)),
        build_started="2026-01-01T00:00:00Z", build_finished="2026-01-01T00:01:00Z",
    )
    return dataclasses.replace(base, **changes)


def test_schema_columns_per_dtype():
    assert partition_schema(8, "float16").names == ["h3", "lat", "lon", "embedding"]
    assert partition_schema(8, "int8").names == ["h3", "lat", "lon", "embedding", "scale"]
    schema = partition_schema(8, "float32", with_error=True, metadata={"resolution": 5})
    assert schema.names[-1] == "interp_error"
    assert schema.field("embedding").type == pa.list_(pa.float32(), 8)
    assert schema.field("h3").type == pa.uint64()
    assert schema.metadata[b"resolution"] == b"5"
    with pytest.raises(ValueError, match="dtype"):
        partition_schema(8, "float64")


@pytest.mark.parametrize("dtype", ["float16", "int8", "float32"])
def test_quantize_round_trip_error_bounds(rng, dtype):
    x = rng.normal(size=(500, 64)).astype(np.float32)
    x[3] = 0.0
    values, scale = quantize(x, dtype)
    back = dequantize(values, scale)
    assert back.dtype == np.float32 and back.shape == x.shape
    if dtype == "int8":
        assert values.dtype == np.int8 and scale.shape == (500,)
        assert np.all(np.abs(back - x) <= scale[:, None] / 2 + 1e-7)
        np.testing.assert_array_equal(back[3], 0.0)
    elif dtype == "float16":
        assert np.all(np.abs(back - x) <= np.abs(x) * 2**-11 + 2**-24)
    else:
        np.testing.assert_array_equal(back, x)


def test_arrow_round_trip(rng):
    x = rng.normal(size=(7, 5)).astype(np.float16)
    arr = embeddings_to_arrow(x)
    assert arr.type == pa.list_(pa.float16(), 5)
    np.testing.assert_array_equal(embeddings_from_arrow(pa.chunked_array([arr[:3], arr[3:]])), x)


def test_manifest_round_trip_and_errors(tmp_path):
    m = manifest()
    write_manifest(tmp_path, m)
    assert read_manifest(tmp_path) == m
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left
    with pytest.raises(GridNotFoundError, match="not a directory"):
        read_manifest(tmp_path / "nope")
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(GridFormatError, match="missing"):
        read_manifest(tmp_path / "unfinished")
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(GridFormatError, match="corrupt"):
        read_manifest(tmp_path)
    write_manifest(tmp_path, manifest(total_cells=6))
    with pytest.raises(GridFormatError, match="total_cells"):
        read_manifest(tmp_path)
    write_manifest(tmp_path, manifest(format_version=99))
    with pytest.raises(GridFormatError, match="written by satcle 0.1.0, format 99; .* rebuild it with"):
        read_manifest(tmp_path)


def test_float16_quantize_is_numpy_astype_bit_for_bit():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.standard_normal(100_000).astype(np.float32) * 10.0 ** rng.integers(-9, 5, 100_000),
        np.array([0.0, -0.0, 65504.0, 65520.0, 1e9, -1e9, 6e-8, 3e-8, 2.98e-8, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11],
                 dtype=np.float32),
    ]).astype(np.float32)
    embeddings = np.resize(values, (values.size // 4 + 1, 4))
    fast, no_scale = quantize(embeddings, "float16")
    with np.errstate(over="ignore"):  # 1e9 -> inf, as torch does
        reference = embeddings.astype(np.float16)
    assert no_scale is None and fast.dtype == np.float16
    np.testing.assert_array_equal(fast.view(np.uint16), reference.view(np.uint16))


def test_geometry_column_is_geoparquet_wkb_points():
    from satcle.grid.format.store import GEOMETRY_COLUMN, without_geometry, wkb_points

    schema = partition_schema(8, "int8", with_error=True, with_geometry=True, metadata={"k": "v"})
    assert schema.names == ["h3", "lat", "lon", "embedding", "scale", "interp_error", GEOMETRY_COLUMN]
    assert schema.metadata[b"k"] == b"v" and b"geo" in schema.metadata
    assert without_geometry(schema.remove_metadata()).equals(partition_schema(8, "int8", with_error=True))
    assert without_geometry(partition_schema(8, "int8")).equals(partition_schema(8, "int8"))
    lats, lons = np.array([48.8566, -33.92, 90.0]), np.array([2.3522, 18.42, -180.0])
    points = wkb_points(lats, lons).to_pylist()
    # WKB by hand: little-endian, type 1 (Point), x = lon, y = lat.
    import struct
    assert points == [struct.pack("<BIdd", 1, 1, lon, lat) for lat, lon in zip(lats, lons)]


def test_the_format_layer_imports_no_torch():
    """Reading a grid's format needs numpy and Arrow only (float16 quantisation included)."""
    import ast
    from pathlib import Path

    import satcle.grid.format as format_package

    for path in Path(format_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] == "torch" for name in names), path
