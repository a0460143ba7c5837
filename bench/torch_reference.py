#!/usr/bin/env python3
"""PyTorch CPU reference of duskmatch's model, for side-by-side speed comparison with
`duskmatch bench` (same JSON line shape).

The exact double VAE of docs/design.md section 1 (width 64 = 17,560,326 parameters) and the
losses of section 2 (10 x L1 reconstruction + 0.01 x KL + 10 x L1 cycle + 0.01 x cycle KL),
Adam lr 1e-4. Trains on random images; prints one JSON line.

  pip install torch            # the registry build; runs on the CPU
  OMP_WAIT_POLICY=PASSIVE python3 torch_reference.py --size 64 --batch 8 --threads 2

On a busy 2-core machine OpenMP's default busy waiting slows torch several times over:
compare at --threads 1, or with OMP_WAIT_POLICY=PASSIVE, under the same load.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, k, s=1):
    return nn.Conv2d(cin, cout, k, s, (k - 1) // 2 if s == 1 else 1)


class Res(nn.Module):
    """x + conv_b(relu(conv_a(x))), no activation after the sum."""

    def __init__(self, ch):
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, 1, 1)
        self.b = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x):
        return x + self.b(F.relu(self.a(x)))


class Up(nn.Module):
    """nearest upsample x2, conv k5, BatchNorm, ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.c = nn.Conv2d(cin, cout, 5, 1, 2)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.c(F.interpolate(x, scale_factor=2, mode="nearest"))))


def private_encoder(w):
    return nn.Sequential(
        nn.Conv2d(3, w, 7, 1, 3), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.ReLU(),
        Res(4 * w), Res(4 * w))


class SharedFirstStage(nn.Module):
    """One first encoder stage for both domains, with per-domain affine instance norms after
    conv1, conv2_1 and conv2_2 (duskmatch's `encoder = "shared"`)."""

    def __init__(self, w):
        super().__init__()
        self.c1 = nn.Conv2d(3, w, 7, 1, 3)
        self.c2 = nn.Conv2d(w, 2 * w, 4, 2, 1)
        self.c3 = nn.Conv2d(2 * w, 4 * w, 4, 2, 1)
        self.res = nn.Sequential(Res(4 * w), Res(4 * w))
        self.norms = nn.ModuleDict({d: nn.ModuleList(
            [nn.InstanceNorm2d(c, affine=True) for c in (w, 2 * w, 4 * w)]) for d in "ab"})

    def forward(self, x, dom):
        n = self.norms[dom]
        x = F.relu(n[0](self.c1(x)))
        x = F.relu(n[1](self.c2(x)))
        x = F.relu(n[2](self.c3(x)))
        return self.res(x)


def shared_res(w):
    return nn.Sequential(Res(4 * w), Res(4 * w))


def private_decoder(w):
    return nn.Sequential(
        Res(4 * w), Res(4 * w), Up(4 * w, 2 * w), Up(2 * w, w),
        nn.Conv2d(w, 3, 7, 1, 3), nn.Sigmoid())


class DoubleVAE(nn.Module):
    """The research model (docs/design.md section 1); width 64 = 17,560,326 parameters."""

    def __init__(self, w=64, shared_encoder=False):
        super().__init__()
        self.shared_encoder = shared_encoder
        if shared_encoder:
            self.enc_first = SharedFirstStage(w)
        else:
            self.enc_a, self.enc_b = private_encoder(w), private_encoder(w)
        self.enc_s = shared_res(w)
        self.dec_s = shared_res(w)
        self.dec_a, self.dec_b = private_decoder(w), private_decoder(w)

    def encode(self, x, dom):
        if self.shared_encoder:
            return self.enc_s(self.enc_first(x, dom))
        return self.enc_s((self.enc_a if dom == "a" else self.enc_b)(x))

    def decode_both(self, z):
        h = self.dec_s(z)
        return self.dec_a(h), self.dec_b(h)


def unit_loss(m, xa, xb, rec, w_rec=10.0, w_kl=0.01, w_cyc=10.0, w_klc=0.01):
    mu_a, mu_b = m.encode(xa, "a"), m.encode(xb, "b")
    za = mu_a + torch.randn_like(mu_a)
    zb = mu_b + torch.randn_like(mu_b)
    x_aa, x_ab = m.decode_both(za)
    x_ba, x_bb = m.decode_both(zb)
    mu_ab, mu_ba = m.encode(x_ab, "b"), m.encode(x_ba, "a")
    z_ab = mu_ab + torch.randn_like(mu_ab)
    z_ba = mu_ba + torch.randn_like(mu_ba)
    x_aba = m.dec_a(m.dec_s(z_ab))
    x_bab = m.dec_b(m.dec_s(z_ba))
    parts = dict(mu_a=mu_a, mu_b=mu_b, mu_ab=mu_ab, mu_ba=mu_ba, x_ab=x_ab, x_ba=x_ba)
    return parts, (w_rec * (rec(x_aa, xa) + rec(x_bb, xb))
            + w_kl * (mu_a.pow(2).mean() + mu_b.pow(2).mean())
            + w_cyc * (rec(x_aba, xa) + rec(x_bab, xb))
            + w_klc * (mu_ab.pow(2).mean() + mu_ba.pow(2).mean()))


class PatchGan(nn.Module):
    """Stride-2 4x4 convs with leaky ReLU 0.2, then a 1x1 conv to one LSGAN score per patch."""

    def __init__(self, width=32, layers=3):
        super().__init__()
        mods, cin = [], 3
        for k in range(layers):
            mods += [nn.Conv2d(cin, width << k, 4, 2, 1), nn.LeakyReLU(0.2)]
            cin = width << k
        mods.append(nn.Conv2d(cin, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class MultiScale(nn.Module):
    """PatchGANs at several scales, each scale average-pooled by 2 (UNIT's MsImageDis)."""

    def __init__(self, scales=2, width=32, layers=3):
        super().__init__()
        self.ds = nn.ModuleList([PatchGan(width, layers) for _ in range(scales)])

    def forward(self, x):
        outs = []
        for k, d in enumerate(self.ds):
            if k:
                x = F.avg_pool2d(x, 2)
            outs.append(d(x))
        return outs


def ls_to(outs, target):
    return sum(((o - target) ** 2).mean() for o in outs)


def standardised(mu):
    c = mu - mu.mean(1, keepdim=True)
    return c / (c.pow(2).sum(1, keepdim=True).div(max(mu.shape[1], 2) - 1).sqrt() + 1e-5)


def info_nce(p, q, tau=0.1, grid=4):
    """InfoNCE both ways between codes whose rows correspond, standardised and pooled to grid x grid."""
    def rows(mu):
        r = F.adaptive_avg_pool2d(standardised(mu), grid).flatten(1)
        return r / (r.norm(dim=1, keepdim=True) + 1e-8)
    lg = rows(p) @ rows(q).t() / tau
    t = torch.arange(lg.shape[0])
    return (F.cross_entropy(lg, t) + F.cross_entropy(lg.t(), t)) / 2


def mean_gap(a, b):
    return (standardised(a).mean((2, 3)).mean(0) - standardised(b).mean((2, 3)).mean(0)).pow(2).sum()


def cur_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8, help="images per domain per step")
    p.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--loss", choices=["l1", "mse"], default="l1")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--betas", type=float, nargs=2, default=[0.9, 0.999])
    p.add_argument("--width", type=int, default=64, help="64 = the research model")
    p.add_argument("--infer-batch", type=int, default=64)
    p.add_argument("--infer-iters", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels-last", action="store_true",
                   help="NHWC memory format (oneDNN's preferred layout on CPUs)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    p.add_argument("--objective", choices=["research", "aligned"], default="research",
                   help="aligned = research + per-domain 2-scale PatchGAN LSGAN (D step, then G step), "
                        "translation InfoNCE (tau 0.1, grid 4) and the domain mean gap, each weight 1")
    p.add_argument("--encoder", choices=["research", "shared"], default="research",
                   help="shared = one first encoder stage with per-domain instance norms")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rss_import = cur_rss_mib()
    m = DoubleVAE(a.width, shared_encoder=a.encoder == "shared")
    nparam = sum(t.numel() for t in m.parameters())
    opt = torch.optim.Adam(m.parameters(), lr=a.lr, betas=tuple(a.betas))
    aligned = a.objective == "aligned"
    if aligned:
        d_day, d_night = MultiScale(), MultiScale()
        d_params = list(d_day.parameters()) + list(d_night.parameters())
        d_opt = torch.optim.Adam(d_params, lr=1e-4, betas=(0.5, 0.999))
    rec = F.l1_loss if a.loss == "l1" else F.mse_loss
    xa = torch.rand(a.batch, 3, a.size, a.size)
    xb = torch.rand(a.batch, 3, a.size, a.size)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    m = m.to(memory_format=fmt)
    if aligned:
        d_day, d_night = d_day.to(memory_format=fmt), d_night.to(memory_format=fmt)
    xa, xb = xa.to(memory_format=fmt), xb.to(memory_format=fmt)
    if a.compile:
        m.encode = torch.compile(m.encode)
        m.decode_both = torch.compile(m.decode_both)

    def step():
        opt.zero_grad(set_to_none=True)
        parts, loss = unit_loss(m, xa, xb, rec)
        if aligned:
            loss = loss + mean_gap(parts["mu_a"], parts["mu_b"])
            loss = loss + info_nce(parts["mu_a"], parts["mu_ab"]) + info_nce(parts["mu_b"], parts["mu_ba"])
            d_opt.zero_grad(set_to_none=True)
            d_loss = (ls_to(d_night(xb), 1) + ls_to(d_night(parts["x_ab"].detach()), 0)
                      + ls_to(d_day(xa), 1) + ls_to(d_day(parts["x_ba"].detach()), 0))
            d_loss.backward()
            d_opt.step()
            loss = loss + ls_to(d_night(parts["x_ab"]), 1) + ls_to(d_day(parts["x_ba"]), 1)
        loss.backward()
        opt.step()
        return loss.item()

    m.train()
    for _ in range(a.warmup):
        step()
    rates, last = [], None
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            last = step()
        rates.append(a.steps / (time.perf_counter() - t0))
    sps = statistics.median(rates)
    rss_train = rss_mib()

    # Inference: encoder only (private + shared), eval mode, no grad.
    m.eval()
    infer = {}
    with torch.inference_mode():
        for bs in sorted({a.batch, a.infer_batch}):
            x = torch.rand(bs, 3, a.size, a.size).to(memory_format=fmt)
            m.encode(x, "a")
            r = []
            for _ in range(a.infer_iters):
                t0 = time.perf_counter()
                m.encode(x, "a")
                r.append(bs / (time.perf_counter() - t0))
            infer[str(bs)] = round(statistics.median(r), 2)
        lat = m.encode(torch.rand(1, 3, a.size, a.size), "a").shape

    print(json.dumps({
        "impl": "pytorch", "width": a.width, "torch": torch.__version__, "threads": a.threads,
        "size": a.size, "batch": a.batch, "loss": a.loss, "params": nparam,
        "latent_shape": list(lat[1:]),
        "train_steps_per_s": round(sps, 3),
        "train_steps_per_s_all": [round(r, 3) for r in rates],
        "train_pairs_per_s": round(sps * a.batch, 2),
        "train_images_per_s": round(sps * a.batch * 2, 2),
        "final_loss": round(last, 5),
        "infer_encoder_images_per_s": infer,
        "rss_mib_after_import": round(rss_import, 1),
        "peak_rss_mib_after_train": round(rss_train, 1),
        "peak_rss_mib": round(rss_mib(), 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "cpu": platform.processor() or platform.machine(),
        "channels_last": a.channels_last, "compile": a.compile,
        "objective": a.objective, "encoder": a.encoder,
    }))


if __name__ == "__main__":
    main()
