#!/usr/bin/python3
"""tests/bench/torch_mirror.py — our StylEx training step written in PyTorch,
so that `make bench` can time the same work in both and report one ratio.

bench_train.lua starts it (only when /usr/bin/python3 imports torch; the
product never needs Python) with the configuration of the step it times, as
JSON in --config, and drives it over a FIFO: it writes one command per line
("warm", "plain", "r1", "gen", "count", "quit") and reads one `JSON {...}`
line back on the mirror's stdout per command, so that our repeats and the
mirror's alternate and background load hits both alike. While one side runs
the other waits on the pipe. Run alone (no --commands) it times a few steps
itself and prints the same JSON lines. With --check FILE (bench_train.lua
writes FILE: our weights, inputs and outputs) it loads our weights into its
networks, recomputes the outputs and prints how far they are from ours.

What is mirrored (lib/models/*.c and lua/stylex/trainer.lua are the
definition; any difference is a bug of this file):
  * equalized learning rate: parameters stored raw, multiplied by their gain
    in the forward (layers.c); activation gains folded into weights and
    biases as our forwards fold them;
  * mapping: normalize_2nd_moment, mapping_layers FC + lrelu, lr_mul 0.01;
  * latent = cat(w, softmax(C(x))) into every style affine (bias init 1);
  * synthesis (skip): 4x4 const; modulated 3x3 convs in the batched form
    (x * s, one conv with the shared weight, * d with d = rsqrt(s^2 @
    sum_k(w^2)^T + 1e-8)), the up layers as a stride-2 transposed conv then
    the [1,3,3,1] FIR (separable, gain 4, pad 1/1); noise * strength + bias,
    lrelu; toRGB 1x1 without demodulation; skips upsampled by upfirdn2d
    (zero insertion, 4x4 FIR, gain 4, pad 2/1);
  * discriminator (resnet, class-conditional sum_c out_c p_c, minibatch
    stddev group 4 x 1 channel) and the encoder (same trunk, no mbstd, FC
    to w_dim); blur pad 2 before each stride-2 conv, FIR downsample before
    each skip;
  * the classifier: sx.models.Classifier (convs_per_block 3x3 convs + ReLU
    per block, 2x2 max-pool, FC + ReLU, FC), He-uniform init, frozen;
  * the step: p = softmax(C(x)); D phase on 16 random + 16 reconstruction
    fakes made without grad, against the 32 reals, non-saturating loss; R1 =
    gamma/2 |grad_x D(x)|^2 * r1_interval by double backward on a second D
    pass over the reals, every r1_interval steps; G phase: adversarial on
    both halves, L1(x, x'), 0.1 L1(E(x'), E(x)), 0.1 perceptual (the
    classifier's channel-normalised block features), KL(C(x) || C(x'));
    Adam (lr, betas (0, 0.99), D's lr and betas lazily adjusted, E at lr/10);
    EMA of G.
The FIR filters run as depthwise convolutions (how PyTorch has to do them);
the GEMM counter skips those, as our counter does not count upfirdn2d.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
SLOPE = 0.2

# The stylex defaults (trainer.config{} with the default classifier), used
# when --config does not give a key.
DEFAULTS = {
    "resolution": 32, "img_channels": 1, "z_dim": 128, "w_dim": 128, "mapping_layers": 8,
    "mapping_lr_mul": 0.01, "channels": [128, 128, 64, 32], "n_classes": 2, "mbstd_group": 4,
    "mbstd_channels": 1, "batch": 32, "lr": 0.0025, "lr_encoder": 0.00025, "betas": [0.0, 0.99],
    "eps": 1e-8, "r1_gamma": 0.01, "r1_interval": 16, "w_l1": 1.0, "w_perceptual": 0.1,
    "w_wrec": 0.1, "w_kl": 1.0, "ema_kimg": 10, "ema_rampup": 0.05,
    "cls_channels": [32, 64, 128], "cls_convs_per_block": 2, "cls_hidden": 256,
}


def lrelu(x):
    return F.leaky_relu(x, SLOPE)


# ---------------------------------------------------------------- layers


class Linear(nn.Module):
    """sx_linear_layer: weight [out, in], bias [out], runtime gains."""

    def __init__(self, fin, fout, equalized=True, lr_mul=1.0, bias_init=0.0):
        super().__init__()
        if equalized:
            w = torch.randn(fout, fin) / lr_mul
            self.wgain = lr_mul / math.sqrt(fin)
        else:
            bound = math.sqrt(3.0) * math.sqrt(2.0 / fin) / lr_mul
            w = (torch.rand(fout, fin) * 2 - 1) * bound
            self.wgain = lr_mul
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.full([fout], bias_init / lr_mul))
        self.bgain = lr_mul

    def forward(self, x, gain=1.0):
        return F.linear(x, self.weight * (self.wgain * gain), self.bias * (self.bgain * gain))


class Conv2d(nn.Module):
    """sx_conv2d_layer: weight [out, in, k, k], optional bias [out]."""

    def __init__(self, cin, cout, k, stride=1, pad=0, bias=True, equalized=True):
        super().__init__()
        fan_in = cin * k * k
        if equalized:
            w = torch.randn(cout, cin, k, k)
            self.wgain = 1.0 / math.sqrt(fan_in)
        else:
            bound = math.sqrt(3.0) * math.sqrt(2.0 / fan_in)
            w = (torch.rand(cout, cin, k, k) * 2 - 1) * bound
            self.wgain = 1.0
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.stride, self.pad = stride, pad

    def forward(self, x, gain=1.0):
        b = self.bias * gain if self.bias is not None else None
        return F.conv2d(x, self.weight * (self.wgain * gain), b, stride=self.stride, padding=self.pad)


# ---------------------------------------------------------------- FIR resampling

# data_ptr() of every FIR filter tensor: the GEMM counter skips convolutions
# with these weights (they are upfirdn2d on our side, not GEMM)
FIR_PTRS = set()
_fir_cache = {}


def _filter(kind, c, gain):
    key = (kind, c, gain)
    f = _fir_cache.get(key)
    if f is None:
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        if kind == "x":
            f = (k * (math.sqrt(gain) / 8)).view(1, 1, 1, 4)
        elif kind == "y":
            f = (k * (math.sqrt(gain) / 8)).view(1, 1, 4, 1)
        else:
            f = (torch.outer(k, k) * (gain / 64)).view(1, 1, 4, 4)
        f = f.repeat(c, 1, 1, 1).contiguous()
        _fir_cache[key] = f
        FIR_PTRS.add(f.data_ptr())
    return f


def fir(x, gain, p0, p1):
    """sg_fir_apply with up = down = 1: a [1, 4] pass then a [4, 1] pass."""
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (p0, p1, 0, 0)), _filter("x", c, gain), groups=c)
    return F.conv2d(F.pad(x, (0, 0, p0, p1)), _filter("y", c, gain), groups=c)


def upsample2d(x):
    """sx_upsample2d: zero insertion, pad 2/1, 4x4 FIR with gain 4."""
    n, c, h, w = x.shape
    u = F.pad(x.reshape(n, c, h, 1, w, 1), (0, 1, 0, 0, 0, 1)).reshape(n, c, 2 * h, 2 * w)
    return F.conv2d(F.pad(u, (2, 1, 2, 1)), _filter("xy", c, 4.0), groups=c)


def downsample2d(x):
    """sx_downsample2d: pad 1/1, 4x4 FIR, every other pixel."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), _filter("xy", c, 1.0), stride=2, groups=c)


# ---------------------------------------------------------------- generator


def modconv(x, w, s, up, demod, dgain):
    """synthesis.c modconv: x * s, shared-weight conv, * d * dgain."""
    k = w.shape[2]
    xs = x * s[:, :, None, None]
    if up == 1:
        y = F.conv2d(xs, w, padding=k // 2)
    else:
        y = F.conv_transpose2d(xs, w.transpose(0, 1), stride=2)
        y = fir(y, 4.0, k // 2 + 2 - (k - 1), k // 2 + 1 - (k - 2))
    if demod:
        d = torch.rsqrt(s.square() @ w.square().sum([2, 3]).t() + 1e-8) * dgain
        y = y * d[:, :, None, None]
    return y


class SynthesisLayer(nn.Module):
    def __init__(self, sdim, cin, cout, up):
        super().__init__()
        self.affine = Linear(sdim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.up = up

    def forward(self, x, s, noise):
        y = modconv(x, self.weight, s, self.up, True, SQRT2)
        y = y + noise * (self.noise_strength * SQRT2) + (self.bias * SQRT2)[:, None, None]
        return lrelu(y)


class ToRGB(nn.Module):
    def __init__(self, sdim, cin, img_ch):
        super().__init__()
        self.affine = Linear(sdim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_ch, cin, 1, 1))
        self.wgain = 1.0 / math.sqrt(cin)
        self.bias = nn.Parameter(torch.zeros(img_ch))

    def forward(self, x, s):
        return modconv(x, self.weight * self.wgain, s, 1, False, 1.0) + self.bias[:, None, None]


class Mapping(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fcs = nn.ModuleList(
            Linear(cfg["z_dim"] if i == 0 else cfg["w_dim"], cfg["w_dim"], lr_mul=cfg["mapping_lr_mul"])
            for i in range(cfg["mapping_layers"]))

    def forward(self, z):
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for fc in self.fcs:
            x = lrelu(fc(x, SQRT2))
        return x


class Synthesis(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, sdim, img = cfg["channels"], cfg["w_dim"] + cfg["n_classes"], cfg["img_channels"]
        self.const = nn.Parameter(torch.randn(ch[0], 4, 4))
        self.convs = nn.ModuleList()
        self.rgbs = nn.ModuleList()
        self.res = []
        for k, c in enumerate(ch):
            if k > 0:
                self.convs.append(SynthesisLayer(sdim, ch[k - 1], c, 2))
                self.res.append(4 << k)
            self.convs.append(SynthesisLayer(sdim, c, c, 1))
            self.res.append(4 << k)
            self.rgbs.append(ToRGB(sdim, c, img))

    def forward(self, lat, noise=None):
        """noise: None (fresh) or one [N, 1, r, r] tensor per conv layer."""
        n = lat.shape[0]
        sc = [L.affine(lat) for L in self.convs]
        sr = [R.affine(lat) for R in self.rgbs]
        x = self.const[None]
        img = None
        for l, L in enumerate(self.convs):
            nz = torch.randn(n, 1, self.res[l], self.res[l]) if noise is None else noise[l]
            x = L(x, sc[l], nz)
            if l % 2 == 0:
                y = self.rgbs[l // 2](x, sr[l // 2])
                img = y if img is None else upsample2d(img) + y
        return img


class Generator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mapping = Mapping(cfg)
        self.synthesis = Synthesis(cfg)

    @staticmethod
    def latent(w, p):
        return torch.cat([w, p], 1)


# ---------------------------------------------------------------- discriminator, encoder


class DBlock(nn.Module):
    def __init__(self, c, co, fromrgb_ch):
        super().__init__()
        self.fromrgb = Conv2d(fromrgb_ch, c, 1) if fromrgb_ch else None
        self.conv0 = Conv2d(c, c, 3, pad=1)
        self.conv1 = Conv2d(c, co, 3, stride=2)
        self.skip = Conv2d(c, co, 1, bias=False)

    def forward(self, x):
        s = self.skip(downsample2d(x), SQRT_HALF)
        h = lrelu(self.conv0(x, SQRT2))
        h = lrelu(self.conv1(fir(h, 1.0, 2, 2), SQRT2 * SQRT_HALF))
        return h + s


def mbstd(x, group, nf):
    n_all, c, h, w = x.shape
    g = min(group, n_all)
    while g > 1 and n_all % g:
        g -= 1
    n = n_all // g
    y = x.reshape(g, n, nf, c // nf, h, w)
    y = (y - y.mean(0, keepdim=True)).square().mean(0)
    y = (y + 1e-8).sqrt().mean([2, 3, 4])
    y = y.reshape(1, n, nf, 1, 1).expand(g, n, nf, h, w).reshape(n_all, nf, h, w)
    return torch.cat([x, y], 1)


class DNet(nn.Module):
    """The discriminator (use_mbstd, out n_classes) or the encoder (out w_dim)."""

    def __init__(self, cfg, use_mbstd, out_dim):
        super().__init__()
        ch = cfg["channels"]
        n = len(ch)
        self.blocks = nn.ModuleList(
            DBlock(ch[k], ch[k - 1], cfg["img_channels"] if k == n - 1 else 0) for k in range(n - 1, 0, -1))
        self.use_mbstd, self.group, self.nf = use_mbstd, cfg["mbstd_group"], cfg["mbstd_channels"]
        self.conv = Conv2d(ch[0] + (self.nf if use_mbstd else 0), ch[0], 3, pad=1)
        self.fc = Linear(ch[0] * 16, ch[0])
        self.out = Linear(ch[0], out_dim)

    def forward(self, img):
        x = lrelu(self.blocks[0].fromrgb(img, SQRT2))
        for b in self.blocks:
            x = b(x)
        if self.use_mbstd:
            x = mbstd(x, self.group, self.nf)
        x = lrelu(self.conv(x, SQRT2)).reshape(img.shape[0], -1)
        return self.out(lrelu(self.fc(x, SQRT2)))


def discriminate(D, img, p):
    return (D(img) * p).sum(1)


# ---------------------------------------------------------------- classifier


class Classifier(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = cfg["img_channels"]
        for c in cfg["cls_channels"]:
            convs = nn.ModuleList()
            for _ in range(cfg["cls_convs_per_block"]):
                convs.append(Conv2d(cin, c, 3, pad=1, equalized=False))
                cin = c
            self.blocks.append(convs)
        side = cfg["resolution"] >> len(cfg["cls_channels"])
        self.fc = Linear(cin * side * side, cfg["cls_hidden"], equalized=False)
        self.out = Linear(cfg["cls_hidden"], cfg["n_classes"], equalized=False)

    def forward(self, x):
        """Logits and the block features (after each block's last ReLU)."""
        feats = []
        h = x
        for convs in self.blocks:
            for conv in convs:
                h = F.relu(conv(h))
            feats.append(h)
            h = F.max_pool2d(h, 2)
        h = F.relu(self.fc(h.reshape(x.shape[0], -1)))
        return self.out(h), feats


def perceptual(C, a, b):
    """classifier.c sx_classifier_perceptual: [N]."""
    _, fa = C(a)
    _, fb = C(b)
    total = None
    for u, v in zip(fa, fb):
        nu = u * torch.rsqrt(u.square().sum(1, keepdim=True) + 1e-10)
        nv = v * torch.rsqrt(v.square().sum(1, keepdim=True) + 1e-10)
        t = (nu - nv).square().sum(1).mean([1, 2])
        total = t if total is None else total + t
    return total


def kl_div(log_p, log_q):
    return (log_p.exp() * (log_p - log_q)).sum() / log_p.shape[0]


# ---------------------------------------------------------------- the step


def set_req(m, on):
    for p in m.parameters():
        p.requires_grad_(on)


def nparams(m):
    return sum(p.numel() for p in m.parameters())


class Step:
    def __init__(self, cfg):
        self.cfg = cfg
        torch.manual_seed(1)
        self.G = Generator(cfg)
        self.G_ema = Generator(cfg)
        self.G_ema.load_state_dict(self.G.state_dict())
        set_req(self.G_ema, False)
        self.D = DNet(cfg, cfg["mbstd_group"] > 0, cfg["n_classes"])
        self.E = DNet(cfg, False, cfg["w_dim"])
        self.C = Classifier(cfg)
        set_req(self.C, False)
        b = tuple(cfg["betas"])
        c = cfg["r1_interval"] / (cfg["r1_interval"] + 1)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg["lr"], betas=b, eps=cfg["eps"])
        self.opt_E = torch.optim.Adam(self.E.parameters(), lr=cfg["lr_encoder"], betas=b, eps=cfg["eps"])
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg["lr"] * c, betas=(b[0] ** c, b[1] ** c),
                                      eps=cfg["eps"])
        self.x = torch.rand(cfg["batch"], cfg["img_channels"], cfg["resolution"], cfg["resolution"]) * 2 - 1
        self.step_no = 0

    def random_images(self, p):
        z = torch.randn(p.shape[0], self.cfg["z_dim"])
        return self.G.synthesis(Generator.latent(self.G.mapping(z), p))

    def reconstruct(self, x, p):
        w = self.E(x)
        return self.G.synthesis(Generator.latent(w, p)), w

    def d_step(self, x, p, r1):
        cfg = self.cfg
        h = x.shape[0] // 2
        with torch.no_grad():
            fake = torch.cat([self.random_images(p[:h]), self.reconstruct(x[h:], p[h:])[0]], 0)
        set_req(self.D, True)
        loss = F.softplus(discriminate(self.D, fake, p)).mean() + F.softplus(-discriminate(self.D, x, p)).mean()
        if r1:
            xr = x.detach().requires_grad_(True)
            d = discriminate(self.D, xr, p)
            (g,) = torch.autograd.grad(d.sum(), xr, create_graph=True)
            loss = loss + g.square().sum([1, 2, 3]).mean() * (cfg["r1_gamma"] / 2 * cfg["r1_interval"])
        loss.item()
        self.opt_D.zero_grad()
        loss.backward()
        self.opt_D.step()

    def g_step(self, x, p):
        cfg = self.cfg
        h = x.shape[0] // 2
        x2, p1, p2 = x[h:], p[:h], p[h:]
        set_req(self.D, False)
        fake = self.random_images(p1)
        rec, w = self.reconstruct(x2, p2)
        adv = F.softplus(-discriminate(self.D, fake, p1)).mean() + F.softplus(-discriminate(self.D, rec, p2)).mean()
        l1 = (rec - x2).abs().mean()
        wrec = (self.E(rec) - w).abs().mean()
        loss = adv + l1 * cfg["w_l1"] + wrec * cfg["w_wrec"]
        perc = perceptual(self.C, x2, rec).mean()
        loss = loss + perc * cfg["w_perceptual"]
        with torch.no_grad():
            log_p = F.log_softmax(self.C(x2)[0], 1)
        kl = kl_div(log_p, F.log_softmax(self.C(rec)[0], 1))
        loss = loss + kl * cfg["w_kl"]
        for v in (adv, l1, wrec, perc, kl):
            v.item()
        self.opt_G.zero_grad()
        self.opt_E.zero_grad()
        loss.backward()
        self.opt_G.step()
        self.opt_E.step()

    def ema(self):
        cfg = self.cfg
        nimg = (self.step_no + 1) * cfg["batch"]
        ema_nimg = min(cfg["ema_kimg"] * 1000, nimg * cfg["ema_rampup"])
        beta = 0.5 ** (cfg["batch"] / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, pg in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.lerp_(pg, 1 - beta)

    def step(self, r1):
        """One trainer.step; returns the D and G phase times in ms."""
        with torch.no_grad():
            p = F.softmax(self.C(self.x)[0], 1)
        t0 = time.perf_counter()
        self.d_step(self.x, p, r1)
        t1 = time.perf_counter()
        self.g_step(self.x, p)
        t2 = time.perf_counter()
        self.ema()
        self.step_no += 1
        return {"d_ms": 1e3 * (t1 - t0), "g_ms": 1e3 * (t2 - t1)}

    def gen(self):
        """The generator forward of bench_train: classifier probabilities,
        mapping, synthesis, no grad."""
        with torch.no_grad():
            p = F.softmax(self.C(self.x)[0], 1)
            z = torch.randn(self.x.shape[0], self.cfg["z_dim"])
            self.G.synthesis(Generator.latent(self.G.mapping(z), p))
        return {}


# ---------------------------------------------------------------- GEMM counter


def make_counter():
    """A TorchDispatchMode adding 2*MACs of every convolution (except the FIR
    filters), convolution backward (each gradient it computes), mm, addmm and
    bmm: the ops that are sgemm calls on our side."""
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten

    def conv_macs(x, w, out, transposed):
        # MACs = batch * pixels of the smaller side * weight elements
        small = x if transposed else out
        return small.shape[0] * small.shape[2] * small.shape[3] * w.numel()

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.flop = 0
            self.unknown = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            pk = func._overloadpacket
            if pk is aten.mm:
                a, b = args[0], args[1]
                self.flop += 2 * a.shape[0] * a.shape[1] * b.shape[1]
            elif pk is aten.addmm:
                a, b = args[1], args[2]
                self.flop += 2 * a.shape[0] * a.shape[1] * b.shape[1]
            elif pk is aten.bmm:
                a, b = args[0], args[1]
                self.flop += 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
            elif pk in (aten.convolution, aten._convolution):
                x, w = args[0], args[1]
                if w.data_ptr() not in FIR_PTRS:
                    self.flop += 2 * conv_macs(x, w, out, args[6])
            elif pk is aten.convolution_backward:
                gy, x, w = args[0], args[1], args[2]
                mask = args[10]  # (grad_out, input, weight, bias_sizes, stride, padding, dilation,
                #                   transposed, output_padding, groups, output_mask)
                if w.data_ptr() not in FIR_PTRS:
                    m = conv_macs(x, w, gy, args[7])
                    self.flop += 2 * m * (int(bool(mask[0])) + int(bool(mask[1])))
            else:
                name = str(pk)
                if "conv" in name or "mm" in name or "matmul" in name or "linear" in name:
                    self.unknown.add(name)
            return out

    return Counter


def count(st):
    """GFLOP of each kind of work, counted on extra (untimed) runs."""
    Counter = make_counter()
    res = {}
    for name, fn in (("plain", lambda: st.step(False)), ("r1", lambda: st.step(True)), ("gen", st.gen)):
        c = Counter()
        with c:
            fn()
        res[name] = c.flop / 1e9
        res.setdefault("unknown_ops", []).extend(sorted(c.unknown))
    # the phases, separately: D with and without R1, G
    with torch.no_grad():
        p = F.softmax(st.C(st.x)[0], 1)
    for name, fn in (("d", lambda: st.d_step(st.x, p, False)), ("d_r1", lambda: st.d_step(st.x, p, True)),
                     ("g", lambda: st.g_step(st.x, p))):
        c = Counter()
        with c:
            fn()
        res[name] = c.flop / 1e9
    return res


# ---------------------------------------------------------------- numerical check


def read_safetensors(path):
    """name -> float32 tensor, and the metadata (the format: 8-byte header
    length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for name, e in head.items():
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {e['dtype']}, expected F32")
        a, b = e["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def our_names(st):
    """Our parameter names (G., D., E., C. prefixes) -> the mirror's tensors."""
    cfg = st.cfg
    m = {}
    for i, fc in enumerate(st.G.mapping.fcs):
        m[f"G.mapping.fc{i}.weight"], m[f"G.mapping.fc{i}.bias"] = fc.weight, fc.bias
    sy = st.G.synthesis
    m["G.synthesis.b4.const"] = sy.const
    for l, L in enumerate(sy.convs):
        k = (l + 1) // 2
        pre = f"G.synthesis.b{4 << k}.conv{0 if l % 2 == 1 else 1}."
        for nm in ("weight", "bias", "noise_strength"):
            m[pre + nm] = getattr(L, nm)
        m[pre + "affine.weight"], m[pre + "affine.bias"] = L.affine.weight, L.affine.bias
    for k, R in enumerate(sy.rgbs):
        pre = f"G.synthesis.b{4 << k}.torgb."
        m[pre + "weight"], m[pre + "bias"] = R.weight, R.bias
        m[pre + "affine.weight"], m[pre + "affine.bias"] = R.affine.weight, R.affine.bias
    n = len(cfg["channels"])
    for tag, net in (("D", st.D), ("E", st.E)):
        for idx, b in enumerate(net.blocks):
            pre = f"{tag}.b{4 << (n - 1 - idx)}."
            for nm in ("fromrgb", "conv0", "conv1", "skip"):
                layer = getattr(b, nm)
                if layer is None:
                    continue
                m[pre + nm + ".weight"] = layer.weight
                if layer.bias is not None:
                    m[pre + nm + ".bias"] = layer.bias
        for nm in ("conv", "fc", "out"):
            layer = getattr(net, nm)
            m[f"{tag}.b4.{nm}.weight"], m[f"{tag}.b4.{nm}.bias"] = layer.weight, layer.bias
    for bi, convs in enumerate(st.C.blocks):
        for ki, conv in enumerate(convs):
            m[f"C.block{bi}.conv{ki}.weight"], m[f"C.block{bi}.conv{ki}.bias"] = conv.weight, conv.bias
    for nm in ("fc", "out"):
        layer = getattr(st.C, nm)
        m[f"C.{nm}.weight"], m[f"C.{nm}.bias"] = layer.weight, layer.bias
    return m


def check(st, path):
    """Loads our networks' weights and inputs from `path` (written by
    tests/bench/bench_train.lua), runs the same computations and returns the
    largest difference from our outputs, relative to each output's largest
    magnitude."""
    t, _ = read_safetensors(path)
    names = our_names(st)
    missing = sorted(k for k in names if k not in t)
    extra = sorted(k for k in t if k[:2] in ("G.", "D.", "E.", "C.") and k not in names)
    with torch.no_grad():
        for k, p in names.items():
            if k in t:
                if tuple(t[k].shape) != tuple(p.shape):
                    raise ValueError(f"{k}: ours {tuple(t[k].shape)}, the mirror's {tuple(p.shape)}")
                p.copy_(t[k])
    x, z = t["in.x"], t["in.z"]
    noise = [t[f"in.noise{l}"] for l in range(len(st.G.synthesis.convs))]
    res = {}
    with torch.no_grad():
        logits = st.C(x)[0]
        p = F.softmax(logits, 1)
        w = st.G.mapping(z)
        img = st.G.synthesis(Generator.latent(w, p), noise)
        outs = {"logits": logits, "w": w, "img": img, "d": discriminate(st.D, x, p), "e": st.E(x),
                "perceptual": perceptual(st.C, x, img)}
    xr = x.detach().requires_grad_(True)
    (outs["r1_grad"],) = torch.autograd.grad(discriminate(st.D, xr, p).sum(), xr)
    for k, v in outs.items():
        ref = t["out." + k]
        scale = max(ref.abs().max().item(), 1e-12)
        res[k] = (v.detach() - ref).abs().max().item() / scale
    return {"rel_diff": res, "missing": missing, "unmatched": extra, "n_params": len(names)}


# ---------------------------------------------------------------- main


def emit(rec):
    print("JSON " + json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="{}", help="JSON: the keys of DEFAULTS to override")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--commands", default=None, help="a FIFO (or file) to read commands from")
    ap.add_argument("--repeats", type=int, default=5, help="without --commands: timed steps of each kind")
    ap.add_argument("--check", default=None, help="a safetensors file of our weights, inputs and outputs: "
                    "print how far the mirror's outputs are from ours, and exit")
    a = ap.parse_args()
    cfg = dict(DEFAULTS)
    cfg.update(json.loads(a.config))
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    st = Step(cfg)
    if a.check:
        emit(dict(check(st, a.check), bench="torch_mirror_check"))
        return
    emit({"bench": "torch_mirror_info", "torch": torch.__version__, "threads": torch.get_num_threads(),
          "mkldnn": torch.backends.mkldnn.is_available(),
          "params": {"mapping": nparams(st.G.mapping), "synthesis": nparams(st.G.synthesis),
                     "discriminator": nparams(st.D), "encoder": nparams(st.E), "classifier": nparams(st.C)}})

    def run(cmd):
        if cmd == "warm":
            st.step(False); st.step(True); st.step(False)
            for _ in range(3):
                st.gen()
            return {"cmd": cmd}
        if cmd == "count":
            return dict(count(st), cmd=cmd)
        fn = {"plain": lambda: st.step(False), "r1": lambda: st.step(True), "gen": st.gen}[cmd]
        t0 = time.perf_counter()
        extra = fn()
        return dict(extra, cmd=cmd, ms=1e3 * (time.perf_counter() - t0))

    if a.commands:
        with open(a.commands) as f:
            for line in f:
                cmd = line.strip()
                if cmd == "quit":
                    break
                if cmd:
                    emit(dict(run(cmd), bench="torch_mirror"))
        return
    emit(dict(run("count"), bench="torch_mirror"))
    run("warm")
    for _ in range(a.repeats):
        for cmd in ("plain", "r1", "gen"):
            emit(dict(run(cmd), bench="torch_mirror"))


if __name__ == "__main__":
    sys.exit(main())
