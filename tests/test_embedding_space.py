"""satcle.core.embedding_space: unit rows, cosine similarity, and the PCA colours that
`satcle plot` and `satcle-grid serve` share."""

import numpy as np
import pytest

from satcle.core.embedding_space import PCA_PERCENTILES, PcaColours, cosine_similarity, pca_rgb, unit_rows


def test_unit_rows_scale_to_norm_one_and_zero_rows_stay_zero(rng):
    values = rng.normal(size=(6, 5)).astype(np.float32)
    values[2] = 0.0
    values[4, 1] = np.nan
    unit = unit_rows(values)
    assert unit.dtype == np.float32 and not np.shares_memory(unit, values)
    norms = np.linalg.norm(unit, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3, 5]], 1.0, rtol=1e-6)
    assert np.all(unit[2] == 0) and np.all(unit[4] == 0)
    assert unit_rows(np.ones((1, 3), dtype=np.int64)).dtype == np.float64


def test_cosine_similarity_keeps_float32_and_gives_zero_for_zero_rows(rng):
    emb = rng.normal(size=(5, 8)).astype(np.float32)
    emb[3] = 0.0
    sim = cosine_similarity(emb, emb[1])
    assert sim.dtype == np.float32 and sim[1] == pytest.approx(1.0, abs=1e-6) and sim[3] == 0.0
    x = emb.astype(np.float64)
    expected = x @ x[1] / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(x[1]), 1e-300)
    np.testing.assert_allclose(sim, expected, atol=1e-6)


def test_pca_colours_are_reproducible_whatever_the_sample_order(rng):
    t = rng.normal(size=(400, 3)) * [5.0, 2.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(16, 3)))[0].T          # (3, 16) orthonormal directions
    emb = t @ basis + 0.01 * rng.normal(size=(400, 16))
    colours = PcaColours.fit(emb)
    # Each axis is the dominant direction of its rank, with the sign that makes its entries sum >= 0.
    for axis, direction in zip(colours.components, basis):
        assert abs(axis @ direction) > 0.99 and axis.sum() >= 0
    assert colours.explained[0] > colours.explained[1] > colours.explained[2] and colours.explained.sum() <= 1
    shuffled = PcaColours.fit(emb[rng.permutation(400)])
    np.testing.assert_allclose(shuffled.rgb(emb), colours.rgb(emb), atol=1e-9)
    # Scaled between the percentiles of the fitted sample: the same share of each channel clips.
    rgb = colours.rgb(emb)
    assert rgb.min() == 0.0 and rgb.max() == 1.0
    clipped_low = (rgb == 0.0).mean(axis=0)
    np.testing.assert_allclose(clipped_low, PCA_PERCENTILES[0] / 100, atol=0.01)
    np.testing.assert_array_equal(pca_rgb(emb), rgb)
    # project + scale is rgb, float32 in float32 out, NaN rows mid-grey.
    projected = colours.project(emb.astype(np.float32))
    assert projected.dtype == np.float32
    np.testing.assert_allclose(colours.scale(projected), rgb, atol=1e-4)
    assert np.all(colours.rgb(np.full((1, 16), np.nan)) == 0.5)
