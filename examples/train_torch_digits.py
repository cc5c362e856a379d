"""examples/train_torch_digits.py — a classifier trained in PyTorch on a PNG
folder and exported to ONNX for stylex (docs/your-data.md).

    /usr/bin/python3 examples/train_torch_digits.py DIR OUT.onnx [--size 16] [--epochs 20]

DIR holds PNGs and labels.csv (file,label), e.g. the folder
examples/digits_to_png.lua makes. Trains a small CNN on SIZE x SIZE grey
images in [0, 1] (torchvision's ToTensor range), holds out every fifth image
(the split written to DIR/train.csv and DIR/test.csv, for stylex's --labels
and --test-labels), prints the held-out accuracy, and writes OUT.onnx (torch.onnx.export, opset
13, the batch dimension dynamic) and OUT.json beside it: class_names (the
sorted distinct labels, as stylex maps them) and range [0, 1]. Dev-time
only: Debian's python3-torch (1.13), no torchvision or PIL (a minimal PNG
reader below, for the 8-bit grey or RGB files stylex writes).
"""
import csv, json, os, struct, sys, zlib
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_png(path):
    """8-bit grey/RGB/RGBA, non-interlaced PNG -> float tensor [1, H, W] in [0, 1]."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path + ": not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (0, 2, 6), path + ": unsupported PNG"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    t = torch.tensor([list(r) for r in rows], dtype=torch.float32).view(h, w, bpp) / 255
    return t[:, :, :3].mean(2, keepdim=True).permute(2, 0, 1) if bpp > 1 else t.permute(2, 0, 1)


class Net(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.bn = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, k)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.bn(self.c2(x)))
        return self.fc(x.mean([2, 3]))


def main():
    args = sys.argv[1:]
    size = int(args[args.index("--size") + 1]) if "--size" in args else 16
    epochs = int(args[args.index("--epochs") + 1]) if "--epochs" in args else 20
    folder, out = args[0], args[1]
    rows = list(csv.DictReader(open(os.path.join(folder, "labels.csv"))))
    labels = sorted({r["label"] for r in rows}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    x = torch.stack([F.interpolate(read_png(os.path.join(folder, r["file"]))[None], size=(size, size),
                                   mode="bilinear", align_corners=False)[0] for r in rows])
    y = torch.tensor([labels.index(r["label"]) for r in rows])
    test = torch.arange(len(rows)) % 5 == 0
    for name, held in (("train.csv", False), ("test.csv", True)):
        with open(os.path.join(folder, name), "w") as f:
            f.write("file,label\n")
            for r, t in zip(rows, test.tolist()):
                if t == held: f.write(f"{r['file']},{r['label']}\n")
    torch.manual_seed(0)
    net = Net(len(labels))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(epochs):
        for idx in torch.randperm(int((~test).sum())).split(32):
            xb, yb = x[~test][idx], y[~test][idx]
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    acc = (net(x[test]).argmax(1) == y[test]).float().mean().item()
    print(f"held-out accuracy {acc:.4f} on {int(test.sum())} images; classes {labels}")
    torch.onnx.export(net, torch.zeros(1, 1, size, size), out, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    json.dump({"class_names": labels, "range": [0, 1]}, open(os.path.splitext(out)[0] + ".json", "w"))
    print("wrote", out)


if __name__ == "__main__":
    main()
