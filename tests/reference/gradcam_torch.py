#!/usr/bin/python3
"""Grad-CAM of a stylex classifier, computed independently with PyTorch.

Dev-time reference only: nothing in the product or in `make test` needs
Python. Debian's packages: apt-get install -y python3-torch python3-numpy
(run it with /usr/bin/python3, which sees them).

    /usr/bin/python3 tests/reference/gradcam_torch.py --dump FILE

FILE is written by `build/stylex scripts/gradcam_check.lua --model DIR --n N
--dump FILE`: the images x [N, 1, R, R] in [-1, 1], the predicted and the
runner-up classes pred / other [N], and for each class T in (pred, other)
and block B in (last, prev) stylex's Grad-CAM maps maps_T_B [N, 1, R, R]
(gradcam.maps) and the raw maps before the resize raw_T_B [N, 1, h, w]
(written out in the Lua script); the metadata names the classifier file.

This script rebuilds the classifier from its .safetensors (8-byte little-
endian header length, JSON header, raw float32 data) as a torch.nn network
(blocks of conv3x3 + ReLU with zero padding 1, 2x2 max-pool; flatten, fc,
ReLU, out), checks that its predictions are the dump's, and computes
Grad-CAM the textbook way: a forward hook on the block's last ReLU (before
its pool) keeps A, a tensor hook keeps dlogit_c/dA; alpha_k = spatial mean
of the gradient, cam = relu(sum_k alpha_k A_k), resized with
F.interpolate(bilinear, align_corners=False) and divided by its maximum.
With --fmnist it also reloads the Fashion-MNIST test images from the IDX
files (pad 28 -> 32 with 0, /127.5 - 1; classes from the metadata) and
checks they are the dump's.

Prints one JSON line: per block the max abs difference of the raw maps (in
the block's units, and relative to the largest raw value) and of the
resized, normalised maps, and the share of images whose argmax cell agrees.
"""
import argparse
import gzip
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, only F32 is read")
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(blob[a:b], dtype="<f4").reshape(info["shape"]).copy()
    return tensors, meta


class Net(nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = cfg["img_channels"]
        for b, cout in enumerate(cfg["channels"]):
            layers = []
            for k in range(cfg["convs_per_block"]):
                conv = nn.Conv2d(cin, cout, 3, padding=1)
                conv.weight.data = torch.from_numpy(weights[f"block{b}.conv{k}.weight"])
                conv.bias.data = torch.from_numpy(weights[f"block{b}.conv{k}.bias"])
                layers += [conv, nn.ReLU()]
                cin = cout
            self.blocks.append(nn.Sequential(*layers))
        self.fc = nn.Linear(weights["fc.weight"].shape[1], cfg["hidden"])
        self.fc.weight.data = torch.from_numpy(weights["fc.weight"])
        self.fc.bias.data = torch.from_numpy(weights["fc.bias"])
        self.out = nn.Linear(cfg["hidden"], cfg["n_classes"])
        self.out.weight.data = torch.from_numpy(weights["out.weight"])
        self.out.bias.data = torch.from_numpy(weights["out.bias"])

    def forward(self, x):
        for block in self.blocks:
            x = F.max_pool2d(block(x), 2)
        return self.out(F.relu(self.fc(x.flatten(1))))


def gradcam(net, x, classes, block):
    """Textbook Grad-CAM at `block` (0-based): raw [N, 1, h, w] and resized, normalised [N, 1, R, R]."""
    kept = {}

    def keep_grad(g):
        kept["grad"] = g

    def fwd_hook(module, inp, out):
        kept["act"] = out
        out.register_hook(keep_grad)

    relu = net.blocks[block][-1]          # the block's last ReLU, before the pool
    handle = relu.register_forward_hook(fwd_hook)
    xin = x.clone().requires_grad_(True)
    logits = net(xin)
    handle.remove()
    net.zero_grad()
    logits.gather(1, classes[:, None]).sum().backward()
    A, G = kept["act"].detach(), kept["grad"]
    alpha = G.mean(dim=(2, 3), keepdim=True)
    raw = F.relu((alpha * A).sum(1, keepdim=True))
    R = x.shape[-1]
    up = F.interpolate(raw, size=(R, R), mode="bilinear", align_corners=False) if raw.shape[-1] != R else raw
    peak = up.flatten(1).max(1).values.view(-1, 1, 1, 1)
    up = up / torch.where(peak > 0, peak, torch.ones_like(peak))
    return raw, up, logits.detach()


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fmnist_images(meta, n, folder):
    images = read_idx_gz(folder + "/t10k-images-idx3-ubyte.gz")
    labels = read_idx_gz(folder + "/t10k-labels-idx1-ubyte.gz")
    classes = [int(c) for c in json.loads(meta["classes"])]
    keep = np.nonzero(np.isin(labels, classes))[0][:n]
    x = np.pad(images[keep].astype(np.float32), ((0, 0), (2, 2), (2, 2)))
    return torch.from_numpy(x / 127.5 - 1)[:, None]


def argmax_cells(m):
    return m.flatten(1).argmax(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="written by scripts/gradcam_check.lua --dump")
    ap.add_argument("--fmnist", default="", help="Fashion-MNIST IDX folder: also check the dump's images against it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    d, dmeta = read_safetensors(args.dump)
    weights, meta = read_safetensors(dmeta["classifier"])
    cfg = json.loads(meta["config"])
    net = Net(cfg, weights).eval()
    x = torch.from_numpy(d["x"])
    out = {"classifier": dmeta["classifier"], "n": int(x.shape[0])}
    if args.fmnist:
        xf = fmnist_images(meta, x.shape[0], args.fmnist)
        out["images_max_abs_diff"] = float((xf - x).abs().max())
    with torch.no_grad():
        logits = net(x)
    out["pred_agree"] = float((logits.argmax(1) == torch.from_numpy(d["pred"]).long()).float().mean())
    nb = len(cfg["channels"])
    for target in ("pred", "other"):
        classes = torch.from_numpy(d[target]).long()
        for name, block in (("last", nb - 1), ("prev", nb - 2)):
            tag = target + "_" + name
            if "raw_" + tag not in d:
                continue
            raw, up, _ = gradcam(net, x, classes, block)
            sraw, sup = torch.from_numpy(d["raw_" + tag]), torch.from_numpy(d["maps_" + tag])
            nonzero = raw.flatten(1).max(1).values > 0
            out[tag] = {
                "block": block + 1,
                "grid": list(raw.shape[-2:]),
                "raw_max_abs_diff": float((raw - sraw).abs().max()),
                "raw_max": float(raw.abs().max()),
                "resized_max_abs_diff": float((up - sup).abs().max()),
                "argmax_agree": float((argmax_cells(raw) == argmax_cells(sraw))[nonzero].float().mean()),
                "all_zero_maps": int((~nonzero).sum()),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
