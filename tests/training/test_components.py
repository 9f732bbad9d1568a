"""Training components on tiny tensors: SH+Siren, ViT, augmentations, DINO, refinements, loss."""

import math

import pytest
import torch

from satcle.model import EncoderConfig, LocationEncoder
from satcle.model.vision import VisionConfig, VisionTransformer
from satcle.training.augment import random_views
from satcle.training.causal import non_causal_mask, smooth_non_causal_patches
from satcle.training.contrastive import SatCLEModel, clip_loss, retrieval_top1
from satcle.training.dino import DinoHead, DinoLoss, DinoNetwork, dino_step, ema_update
from satcle.training.spatial import GraphFusion, gaussian_adjacency, perturb_coordinates

TINY_VIT = VisionConfig(image_size=16, patch_size=4, in_channels=3, dim=16, depth=2, heads=2)


def test_sh_siren_forward_backward_reaches_every_parameter():
    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=16, output_dim=8))
    lats = torch.tensor([0.0, 45.0, -89.0, 60.0])
    lons = torch.tensor([0.0, 179.0, -120.0, 10.0])
    out = encoder(lats, lons)
    assert out.shape == (4, 8)
    out.square().sum().backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_vit_attention_shapes_and_position_interpolation():
    torch.manual_seed(0)
    vit = VisionTransformer(TINY_VIT)
    features, attention = vit.forward_with_attention(torch.rand(3, 3, 16, 16))
    assert features.shape == (3, 16) and attention.shape == (3, 16)
    # Softmax over CLS + 16 patches: patch shares are positive and sum below 1.
    assert (attention > 0).all() and (attention.sum(dim=1) < 1).all()
    torch.testing.assert_close(vit(torch.rand(3, 3, 16, 16)).shape, torch.Size([3, 16]))
    assert vit(torch.rand(2, 3, 8, 8)).shape == (2, 16)  # a local crop: 2x2 patches
    with pytest.raises(ValueError, match="expected"):
        vit(torch.rand(2, 4, 16, 16))


def _dihedral(image):
    out = []
    for flipped in (image, image.flip(-1)):
        out += [torch.rot90(flipped, k, dims=(-2, -1)) for k in range(4)]
    return out


def test_full_scale_views_are_symmetries_of_the_square():
    images = torch.rand(8, 3, 8, 8)
    views = random_views(images, 8, (1.0, 1.0), torch.Generator().manual_seed(1), jitter=0.0)
    seen = set()
    for image, view in zip(images, views):
        matches = [i for i, t in enumerate(_dihedral(image)) if torch.allclose(view, t, atol=1e-5)]
        assert len(matches) >= 1
        seen.add(matches[0])
    assert len(seen) > 1  # rotations / flips really happen
    again = random_views(images, 8, (1.0, 1.0), torch.Generator().manual_seed(1), jitter=0.0)
    torch.testing.assert_close(views, again)
    small = random_views(images, 4, (0.1, 0.4), torch.Generator().manual_seed(2))
    assert small.shape == (8, 3, 4, 4) and small.min() >= 0 and small.max() <= 1


def test_dino_step_moves_teacher_by_ema_of_student():
    torch.manual_seed(0)
    student = DinoNetwork(VisionTransformer(TINY_VIT), DinoHead(16, 32, 8, 64))
    teacher = DinoNetwork(VisionTransformer(TINY_VIT), DinoHead(16, 32, 8, 64)).requires_grad_(False)
    before_teacher = [p.clone() for p in teacher.parameters()]
    before_student = [p.clone() for p in student.parameters()]
    loss_fn = DinoLoss(64, 0.04, 0.1, 0.9)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-2)
    views = [torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16), torch.rand(4, 3, 8, 8)]
    loss = dino_step(student, teacher, loss_fn, optimizer, views, momentum=0.9)
    assert math.isfinite(loss) and loss > 0
    moved = 0
    for t_old, s_old, t_new, s_new in zip(before_teacher, before_student, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(t_new, 0.9 * t_old + 0.1 * s_new)
        moved += int(not torch.equal(s_old, s_new))
    assert moved > 0
    assert loss_fn.center.abs().sum() > 0  # centre follows the teacher outputs


def test_ema_update_formula():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.99 * a.weight.detach() + 0.01 * b.weight.detach()
    ema_update(a, b, 0.99)
    torch.testing.assert_close(a.weight.detach(), expected)


def test_non_causal_mask_is_the_lowest_decile():
    attention = torch.arange(1, 101, dtype=torch.float32).repeat(2, 1)
    attention[1] = attention[1].flip(0)
    mask = non_causal_mask(attention, 0.1)
    assert mask.sum(dim=1).tolist() == [10, 10]
    assert mask[0, :10].all() and mask[1, -10:].all()


def test_smoothing_replaces_exactly_the_masked_patches_by_neighbour_means():
    torch.manual_seed(0)
    p, gh, gw = 2, 3, 4
    images = torch.rand(2, 3, gh * p, gw * p)
    mask = torch.zeros(2, gh * gw, dtype=torch.bool)
    mask[0, [0, 5]] = True          # a corner (3 neighbours) and an interior patch (8)
    mask[1, [11]] = True            # the other corner
    out = smooth_non_causal_patches(images, mask, p)

    def patch(img, r, c):
        return img[:, r * p:(r + 1) * p, c * p:(c + 1) * p]

    for b in range(2):
        for r in range(gh):
            for c in range(gw):
                if mask[b, r * gw + c]:
                    neighbours = [patch(images[b], rr, cc) for rr in range(r - 1, r + 2) for cc in range(c - 1, c + 2)
                                  if (rr, cc) != (r, c) and 0 <= rr < gh and 0 <= cc < gw]
                    torch.testing.assert_close(patch(out[b], r, c), torch.stack(neighbours).mean(0))
                    assert not torch.equal(patch(out[b], r, c), patch(images[b], r, c))
                else:
                    assert torch.equal(patch(out[b], r, c), patch(images[b], r, c))
    with pytest.raises(ValueError):
        smooth_non_causal_patches(images, mask[:, :5], p)


def test_spce_shapes_anchor_and_jitter_scale():
    lats = torch.tensor([0.0, 89.9, -30.0], dtype=torch.float64)
    lons = torch.tensor([179.95, 10.0, -179.95], dtype=torch.float64)
    node_lats, node_lons = perturb_coordinates(lats, lons, 5, 0.5, torch.Generator().manual_seed(0))
    assert node_lats.shape == node_lons.shape == (3, 6)
    assert torch.equal(node_lats[:, 0], lats) and torch.equal(node_lons[:, 0], lons)
    assert node_lats.abs().max() <= 90 and node_lons.min() >= -180 and node_lons.max() < 180
    many_lats, _ = perturb_coordinates(torch.zeros(4000, dtype=torch.float64), torch.zeros(4000, dtype=torch.float64),
                                       5, 0.5, torch.Generator().manual_seed(1))
    assert abs(float(many_lats[:, 1:].std()) - 0.5) < 0.02


def test_adjacency_values_follow_equation_1_and_wrap_the_antimeridian():
    lats = torch.tensor([[0.0, 0.3, 0.0]])
    lons = torch.tensor([[179.9, 179.9, -179.9]])
    adjacency = gaussian_adjacency(lats, lons, 0.2)
    assert adjacency.shape == (1, 3, 3)
    torch.testing.assert_close(adjacency, adjacency.transpose(1, 2))
    torch.testing.assert_close(torch.diagonal(adjacency[0]), torch.ones(3))
    torch.testing.assert_close(adjacency[0, 0, 1], torch.tensor(math.exp(-0.09 / 0.08)))
    torch.testing.assert_close(adjacency[0, 0, 2], torch.tensor(math.exp(-0.04 / 0.08)), rtol=1e-4, atol=1e-6)
    d12 = 0.3**2 + 0.2**2
    torch.testing.assert_close(adjacency[0, 1, 2], torch.tensor(math.exp(-d12 / 0.08)), rtol=1e-4, atol=1e-6)


def test_graph_fusion_shapes_starts_at_anchor_and_learns():
    torch.manual_seed(0)
    fusion = GraphFusion(8)
    features = torch.randn(4, 6, 8, requires_grad=True)
    adjacency = torch.rand(4, 6, 6) + 0.1
    fused = fusion(features, adjacency)
    assert fused.shape == (4, 8)
    torch.testing.assert_close(fused, features[:, 0])  # second layer starts at zero
    with torch.no_grad():
        fusion.second.weight.normal_()
    fused = fusion(features, adjacency)
    assert not torch.allclose(fused, features[:, 0])
    fused.sum().backward()
    assert features.grad[:, 1:].abs().sum() > 0  # the copies feed the anchor


def test_clip_loss_symmetric_and_minimal_on_matched_pairs():
    torch.manual_seed(0)
    a, b = torch.randn(8, 16), torch.randn(8, 16)
    scale = torch.tensor(10.0)
    torch.testing.assert_close(clip_loss(a, b, scale), clip_loss(b, a, scale))
    matched = torch.eye(8, 16)
    best = clip_loss(matched, matched, scale)
    for shift in range(1, 8):
        assert best < clip_loss(matched, matched.roll(shift, dims=0), scale)
    assert best < clip_loss(a, b, scale)
    assert retrieval_top1(matched, matched) == 1.0
    assert retrieval_top1(matched, matched.roll(1, dims=0)) == 0.0


def test_satcle_model_spatial_path_differs_from_plain_and_has_gradients():
    torch.manual_seed(0)
    model = SatCLEModel(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim=8), 5, spatial=True,
                        copies=3, sigma_deg=1.0)
    with torch.no_grad():
        model.fusion.second.weight.normal_()
    lats, lons, feats = torch.tensor([0.0, 40.0, -20.0]), torch.tensor([5.0, 100.0, -60.0]), torch.randn(3, 5)
    loss, kept, locations = model(lats, lons, feats, torch.Generator().manual_seed(0))
    assert locations.shape == (3, 8) and kept is None   # no retention head
    assert not torch.allclose(locations, model.location_embeddings(lats, lons))
    loss.backward()
    assert model.log_logit_scale.grad is not None and model.fusion.first.weight.grad.abs().sum() > 0
