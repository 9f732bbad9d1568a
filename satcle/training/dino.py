"""DINO self-distillation of the vision encoder (Caron et al. 2021; SatCLE Fig. 2c).

A student and a teacher share an architecture (ViT + projection head). The
student sees every view (2 global crops + small local crops), the teacher only
the global ones; the loss is the cross-entropy between the teacher's centred,
sharpened softmax and the student's softmax over all view pairs from different
crops. Gradients reach only the student; the teacher follows it by an
exponential moving average, and the centre is a running mean of teacher
outputs (centring plus sharpening is what prevents collapse).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..model.vision import VisionConfig, VisionTransformer, load_vision_encoder, save_vision_encoder
from .augment import random_views
from .resume_state import load_checkpoint, save_checkpoint
from .device import autocast, average_across_ranks, init_distributed
from .presets import DinoConfig


class DinoHead(nn.Module):
    """Projection head: MLP -> L2-normalised bottleneck -> row-normalised prototypes.

    (B, in_dim) -> (B, out_dim) logits. Normalising the last layer's rows keeps
    every prototype at unit norm, as DINO's weight-normed layer with fixed gain.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        self.prototypes = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim) cosine logits in [-1, 1]."""
        z = F.normalize(self.mlp(features), dim=-1)
        return z @ F.normalize(self.prototypes, dim=-1).t()


class DinoNetwork(nn.Module):
    """Backbone + head: (B, C, H, W) -> (B, out_dim)."""

    def __init__(self, backbone: VisionTransformer, head: DinoHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, out_dim) prototype logits."""
        return self.head(self.backbone(images))


class DinoLoss(nn.Module):
    """Cross-entropy between centred/sharpened teacher and student softmaxes.

    Holds the centre (a buffer, (out_dim,)) and updates it after every call.
    """

    def __init__(self, out_dim: int, teacher_temp: float, student_temp: float, center_momentum: float) -> None:
        super().__init__()
        self.teacher_temp = teacher_temp
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(out_dim))

    def forward(self, student_out: list[torch.Tensor], teacher_out: list[torch.Tensor]) -> torch.Tensor:
        """student_out: one (B, out_dim) per view; teacher_out: one per global view (the first views)."""
        targets = [F.softmax((t.float() - self.center) / self.teacher_temp, dim=-1).detach() for t in teacher_out]
        log_probs = [F.log_softmax(s.float() / self.student_temp, dim=-1) for s in student_out]
        total, pairs = 0.0, 0
        for ti, target in enumerate(targets):
            for si, log_prob in enumerate(log_probs):
                if si == ti:  # the same crop seen by both networks teaches nothing
                    continue
                total = total + (-(target * log_prob).sum(dim=-1)).mean()
                pairs += 1
        self._update_center(torch.cat(teacher_out).detach().float())
        return total / pairs

    @torch.no_grad()
    def _update_center(self, teacher_logits: torch.Tensor) -> None:
        batch_mean = teacher_logits.mean(dim=0)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(batch_mean)
            batch_mean /= torch.distributed.get_world_size()
        self.center.mul_(self.center_momentum).add_(batch_mean, alpha=1 - self.center_momentum)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


def multi_crop(images: torch.Tensor, config: DinoConfig, global_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """2 global views (global_size px) then `config.local_crops` local views, each (B, C, s, s)."""
    views = [random_views(images, global_size, config.global_crop_scale, generator) for _ in range(2)]
    views += [random_views(images, config.local_size, config.local_crop_scale, generator)
              for _ in range(config.local_crops)]
    return views


def dino_step(
    student: DinoNetwork,
    teacher: DinoNetwork,
    loss_fn: DinoLoss,
    optimizer: torch.optim.Optimizer,
    views: list[torch.Tensor],
    momentum: float,
    *,
    clip_grad: float = 3.0,
    amp: bool = False,
) -> float:
    """One DINO update: loss on all views, student step, teacher EMA. Returns the loss.

    views: the first two are the global views (the teacher's input).
    """
    device = views[0].device
    with autocast(device, amp):
        with torch.no_grad():
            teacher_out = [teacher(v) for v in views[:2]]
        # Views of one size go through the student together (one batched pass per size).
        student_out = list(student(torch.cat(views[:2])).chunk(2))
        if len(views) > 2:
            student_out += list(student(torch.cat(views[2:])).chunk(len(views) - 2))
        loss = loss_fn(student_out, teacher_out)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad > 0:
        nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    optimizer.step()
    ema_update(teacher, _unwrap(student), momentum)
    return float(loss.detach())


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") else module


def cosine(start: float, end: float, step: int, total: int) -> float:
    """Cosine schedule from `start` (step 0) to `end` (step `total`)."""
    progress = min(step / max(total, 1), 1.0)
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress))


def train_dino(
    dataset: Dataset,
    vision: VisionConfig,
    config: DinoConfig,
    out_dir: Path,
    *,
    device: torch.device,
    seed: int = 0,
    amp: bool = True,
    progress: bool = True,
    log=print,
) -> VisionTransformer:
    """Self-distil a ViT on `dataset` (GeoSample items); returns the teacher backbone, eval mode.

    Writes `out_dir/backbone/` when done and a checkpoint after every epoch
    (`out_dir/dino-checkpoint.pt`), so a rerun resumes where it stopped and a
    finished run is loaded instead of retrained.
    """
    out_dir = Path(out_dir)
    finished = out_dir / "backbone"
    if (finished / "vision.json").is_file():
        log(f"dino: reusing trained backbone {finished}")
        return load_vision_encoder(finished)
    torch.manual_seed(seed)
    head = DinoHead(vision.dim, config.hidden_dim, config.bottleneck_dim, config.out_dim)
    student = DinoNetwork(VisionTransformer(vision), head).to(device)
    teacher = copy.deepcopy(student).requires_grad_(False)
    distributed = init_distributed(device)
    # Under torchrun each rank takes its share of every batch; DDP averages the gradients.
    trained = DistributedDataParallel(student) if distributed.enabled else student
    loss_fn = DinoLoss(config.out_dim, config.teacher_temp, config.student_temp, config.center_momentum).to(device)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batch_size = min(config.batch_size, len(dataset))
    steps_per_epoch = len(dataset) // batch_size
    total_steps = steps_per_epoch * config.epochs
    checkpoint_path = out_dir / "dino-checkpoint.pt"
    start_epoch = 0
    if checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path)
        student.load_state_dict(state["student"])
        teacher.load_state_dict(state["teacher"])
        loss_fn.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        log(f"dino: resuming after epoch {start_epoch}")
    for epoch in range(start_epoch, config.epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(dataset), generator=generator)
        batches = [order[i * batch_size:(i + 1) * batch_size][distributed.rank::distributed.world_size].tolist()
                   for i in range(steps_per_epoch)]
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=config.num_workers)
        losses = []
        bar = tqdm(loader, desc=f"dino epoch {epoch + 1}/{config.epochs}", disable=not (progress and distributed.is_main))
        for step_in_epoch, batch in enumerate(bar):
            step = epoch * steps_per_epoch + step_in_epoch
            # Linear warm-up over the first epoch, then cosine decay to 1 % of the peak.
            warm = min(1.0, (step + 1) / max(steps_per_epoch, 1))
            for group in optimizer.param_groups:
                group["lr"] = config.lr * warm * cosine(1.0, 0.01, step, total_steps)
            images = batch.image
            views = [v.to(device, non_blocking=True) for v in multi_crop(images, config, vision.image_size, generator)]
            momentum = cosine(config.ema_momentum, 1.0, step, total_steps)
            losses.append(dino_step(trained, teacher, loss_fn, optimizer, views, momentum,
                                    clip_grad=config.clip_grad, amp=amp))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        mean_loss = average_across_ranks(sum(losses) / max(len(losses), 1), distributed, device)
        if not distributed.is_main:
            continue
        log(f"dino epoch {epoch + 1}/{config.epochs}: loss {mean_loss:.4f}")
        save_checkpoint(checkpoint_path, {
            "student": student.state_dict(), "teacher": teacher.state_dict(), "loss": loss_fn.state_dict(),
            "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
        })
    backbone = teacher.backbone.cpu().eval()
    if distributed.is_main:
        save_vision_encoder(backbone, finished, metadata={"dino_epochs": config.epochs, "seed": seed})
    return backbone
