#!/usr/bin/env python3
"""One training step of facegate's default set-up, in PyTorch on the CPU (issue 12's baseline).

Builds the same embedder that `facegate train` trains by default (host/src/model.rs,
`EmbedderConfig::default_device`): 64x64 grey in, 3x3/2 stem 16 ch + BatchNorm + ReLU, 7
depthwise-separable blocks (dw 3x3 + BN + ReLU, pw 1x1 + BN, residual add when stride 1 and same
channels, ReLU) of 64,64,64,128,128,128,256 channels, strides 2,1,1,2,1,1,2, global average
pooling, linear 256->128 with bias, L2 normalisation: 124,192 parameters (asserted against the
count facegate reports). It then times what `facegate bench step` times (host/src/commands/bench.rs):
augmentation of a 45 x 2 batch (flip, shift, zoom, brightness, contrast as host/src/data/augment.rs,
done here as batched tensor ops), forward, the squared-L2 distance matrix, semi-hard mining, the
triplet loss (margin 0.2 on squared L2), backward and an Adam step (lr 1e-3, L2 weight decay 5e-5
as burn's `WeightDecayConfig`). Median over `--repeat` steps after 3 untimed warm-up steps, as
`bench step`. Images are random, generated once (the step time does not depend on pixel values).

Miners (`--miner`):
- `pml` (default): pytorch-metric-learning's `TripletMarginMiner(type_of_triplets="semihard")`
  + `TripletMarginLoss(margin=0.2)`, both on `LpDistance(power=2)` (squared L2). Note PML keeps
  every semi-hard triplet, not one per anchor-positive pair.
- `facegate`: facegate's semi-hard miner written in torch (host/src/mining.rs): for each ordered
  anchor-positive pair the hardest semi-hard negative, falling back to the least hard hard
  negative, dropped if all negatives are easy; mean hinge over the mined triplets.

torch is optional (CI does not install it): without it the script exits with status 2 and a
message. Usage: scripts/bench-step-pytorch.py [--repeat 20] [--threads 2] [--miner pml|facegate]
"""

import argparse
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print(
        "bench-step-pytorch: torch is not installed (it is optional); "
        "install it with `pip install torch pytorch-metric-learning`",
        file=sys.stderr,
    )
    sys.exit(2)

# facegate's `EmbedderConfig::default_device` and `model.num_params()` for it.
BLOCKS = [(64, 2), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2)]
FACEGATE_PARAMS = 124_192
SIDE = 64
PEOPLE, IMAGES_PER_PERSON = 45, 2  # PkConfig::default()
ALPHA = 0.2
WARMUP = 3
# AugmentConfig::default()
FLIP_P, MAX_SHIFT, MAX_SCALE, MAX_BRIGHTNESS, MAX_CONTRAST = 0.5, 0.06, 0.10, 0.08, 0.15


class ConvBn(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, groups):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),  # eps 1e-5, momentum 0.1: burn's defaults
        )


class SeparableBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.depthwise = ConvBn(c_in, c_in, 3, stride, c_in)
        self.pointwise = ConvBn(c_in, c_out, 1, 1, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.pointwise(F.relu(self.depthwise(x)))
        return F.relu(y + x if self.residual else y)


class Embedder(nn.Module):
    def __init__(self, stem=16, blocks=BLOCKS, dim=128):
        super().__init__()
        self.stem = ConvBn(1, stem, 3, 2, 1)
        layers, c = [], stem
        for c_out, stride in blocks:
            layers.append(SeparableBlock(c, c_out, stride))
            c = c_out
        self.blocks = nn.Sequential(*layers)
        self.projection = nn.Linear(c, dim)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        e = self.projection(x.mean(dim=(2, 3)))
        # l2_normalize_rows: x / max(‖x‖, 1e-6)
        return e / e.square().sum(1, keepdim=True).sqrt().clamp_min(1e-6)


def augment(images_u8, gen):
    """host/src/data/augment.rs on a [b, 1, s, s] uint8 batch: bilinear resampling about the
    centre with clamped (border) taps, flip, contrast about the image mean, brightness, rounding
    to uint8; then `input_f32` = (p − 128) / 128."""
    b, s = images_u8.shape[0], images_u8.shape[-1]
    u = torch.rand(b, 6, generator=gen)
    sym = lambda i, amount: (2 * u[:, i] - 1) * amount  # noqa: E731
    flip = u[:, 0] < FLIP_P
    shift_x, shift_y = sym(1, MAX_SHIFT) * s, sym(2, MAX_SHIFT) * s
    scale = 1 + sym(3, MAX_SCALE)
    brightness, contrast = sym(4, MAX_BRIGHTNESS) * 255, 1 + sym(5, MAX_CONTRAST)
    # Output pixel centre x_n (normalised, align_corners=False) samples the source at
    # (x_n − 2·shift/s) / scale, mirrored for a flip: the same map as augment::apply.
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = sign / scale
    theta[:, 0, 2] = -sign * 2 * shift_x / s / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, 1, 2] = -2 * shift_y / s / scale
    x = images_u8.float()
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    v = mean + (v - mean) * contrast.view(b, 1, 1, 1) + brightness.view(b, 1, 1, 1)
    return (v.round().clamp(0, 255) - 128.0) / 128.0


def squared_distances(e):
    """tensors::pairwise_squared_distances."""
    sq = e.square().sum(1, keepdim=True)
    return (sq + sq.t() - 2 * e @ e.t()).clamp_min(0)


def facegate_semi_hard(d, labels):
    """mining::Miner::SemiHard on the detached squared-distance matrix."""
    n = labels.shape[0]
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool)
    a, p = (same & ~eye).nonzero(as_tuple=True)
    d_ap = d[a, p][:, None]
    d_an = d[a]  # [pairs, n]
    negative = ~same[a]
    inf = torch.tensor(float("inf"))
    semi = negative & (d_an > d_ap) & (d_an < d_ap + ALPHA)
    hard = negative & (d_an <= d_ap)
    semi_best = torch.where(semi, d_an, inf).argmin(1)
    hard_best = torch.where(hard, d_an, -inf).argmax(1)
    has_semi, has_hard = semi.any(1), hard.any(1)
    neg = torch.where(has_semi, semi_best, hard_best)
    keep = has_semi | has_hard
    return a[keep], p[keep], neg[keep]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed steps (after 3 warm-up ones)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--miner", choices=["pml", "facegate"], default="pml")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = Embedder()
    params = sum(p.numel() for p in model.parameters())
    assert params == FACEGATE_PARAMS, f"{params} parameters, facegate has {FACEGATE_PARAMS}"
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-5)

    if args.miner == "pml":
        try:
            from pytorch_metric_learning import distances, losses, miners
            import pytorch_metric_learning
        except ImportError:
            sys.exit("bench-step-pytorch: --miner pml needs `pip install pytorch-metric-learning`")
        dist = distances.LpDistance(power=2)  # squared L2 on the normalised embeddings
        miner = miners.TripletMarginMiner(margin=ALPHA, type_of_triplets="semihard", distance=dist)
        loss_fn = losses.TripletMarginLoss(margin=ALPHA, distance=dist)
        miner_note = f"pytorch-metric-learning {pytorch_metric_learning.__version__} semi-hard"

        def step_loss(e, labels):
            return loss_fn(e, labels, miner(e, labels))

    else:
        miner_note = "facegate semi-hard (torch)"

        def step_loss(e, labels):
            d = squared_distances(e)
            a, p, n = facegate_semi_hard(d.detach(), labels)
            if a.numel() == 0:
                return d.sum() * 0.0
            return (d[a, p] + ALPHA - d[a, n]).clamp_min(0).mean()

    # synthetic_people(60 people × 4 images); a P×K batch draws 45 people, 2 images each.
    pool = torch.randint(0, 256, (60, 4, 1, SIDE, SIDE), dtype=torch.uint8, generator=gen)
    b = PEOPLE * IMAGES_PER_PERSON
    samples = []
    for i in range(args.repeat + WARMUP):
        people = torch.randperm(60, generator=gen)[:PEOPLE]
        which = torch.stack([torch.randperm(4, generator=gen)[:IMAGES_PER_PERSON] for _ in people])
        batch = pool[people[:, None], which].reshape(b, 1, SIDE, SIDE)
        labels = people.repeat_interleave(IMAGES_PER_PERSON)
        started = time.perf_counter()
        x = augment(batch, gen)
        loss = step_loss(model(x), labels)
        loss.item()  # the read-back `bench step` does (to_f32(loss))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        elapsed = time.perf_counter() - started
        if i >= WARMUP:
            samples.append(elapsed)
    ms = sorted(samples)[len(samples) // 2] * 1e3  # bench.rs's median_ms (upper middle)
    print(
        f"step pytorch: batch {b}, median {ms:.1f} ms/step = {b / ms * 1e3:.0f} images/s over "
        f"{args.repeat} steps ({torch.get_num_threads()} threads; torch {torch.__version__}, "
        f"{params} parameters, {miner_note})"
    )


if __name__ == "__main__":
    main()
