#!/usr/bin/python3
"""The ONNX classifiers the tests load, with PyTorch's own answers.

Dev-time only: nothing in the product or in `make test` needs Python; the
files this writes are committed. Debian's packages:
apt-get install -y python3-torch python3-onnx (run with /usr/bin/python3).

    /usr/bin/python3 tests/reference/onnx_fixtures.py [--out tests/reference/onnx]

Three small networks with random weights (seeded), each exported by
torch.onnx.export at its own opset, so the importer sees what PyTorch really
writes:

  plain      opset 11  in-graph (x - 0.5) / 0.25, conv, LeakyRelu,
                       AveragePool, a nearest Resize x2, MaxPool, Concat of two
                       branches, Tanh and Sigmoid, Reshape to [-1, K], Gemm
  resnet     opset 13  conv/BN/ReLU stem, MaxPool 3x3 stride 2 pad 1, two
                       residual blocks (one with a strided 1x1 shortcut),
                       a BatchNorm after the last add, GlobalAveragePool,
                       Flatten, Gemm
  mobilenet  opset 17  MobileNetV2 inverted residuals: 1x1 expand, depthwise
                       3x3 (groups = channels), ReLU6 (Clip), 1x1 project,
                       residual add; GlobalAveragePool, Flatten, Dropout, Gemm
  idioms     opset 13  F.pad, x.view(x.size(0), -1), x.mean([2, 3]), a
                       bilinear Resize to 3x3: the shape arithmetic
                       torch.onnx writes for them (Shape, Gather, Unsqueeze,
                       ConstantOfShape, Slice, Transpose, Cast, ReduceMean);
                       28x28 input, so the 32x32 images are resized
  zoo        opset 15  padded strided conv, Pad with a value, Clip with only
                       a minimum, AveragePool with pads (count_include_pad
                       0), MaxPool with ceil_mode, align_corners bilinear and
                       nearest Resize, Softmax, Sub/Div of activations,
                       Transpose, MatMul by a weight, Unsqueeze/Squeeze

Beside each NAME.onnx: NAME.json, the sidecar stylex reads (class names,
preprocessing, the Grad-CAM layer), and NAME.ref.safetensors with
  x        [N, 1, 32, 32]  the GAN-side images in [-1, 1]
  logits   [N, K]          PyTorch's logits of preprocess(x)
  r        [N, K]          random weights of the scalar sum(r * logits)
  grad     [N, 1, 32, 32]  d sum(r * logits) / d x, through the preprocessing
  feature  the Grad-CAM layer's map on x (its name in the metadata)
Also bad_*.onnx, graphs stylex must refuse with one line each: an
unsupported operator (Erf), a dynamic height/width, a non-image input, opset
9, and resnet.onnx cut in half.
The preprocessing is the sidecar's, written out here in torch: grey images
replicated to 3 channels where the net takes 3, bilinear resize
(align_corners=False) where its size differs, [-1, 1] mapped to `range`, then
(v - mean) / std per channel.
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx


class Plain(nn.Module):
    """A small CNN that uses many of the operators the importer knows."""

    def __init__(self, k=3):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 12, 3, padding=1, stride=1)
        self.a = nn.Conv2d(12, 6, 1)
        self.b = nn.Conv2d(12, 6, 3, padding=1)
        self.c3 = nn.Conv2d(12, 16, 3, padding=1, stride=2)
        self.fc = nn.Linear(16 * 8 * 8, 24)
        self.out = nn.Linear(24, k)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = (x - 0.5) / 0.25
        x = F.leaky_relu(self.c1(x), 0.1)              # [8, 32, 32]
        x = F.avg_pool2d(x, 2)                         # [8, 16, 16]
        x = F.relu(self.c2(x))                         # [12, 16, 16]
        x = F.max_pool2d(x, 2)                         # [12, 8, 8]
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # [12, 16, 16]
        x = torch.cat([torch.tanh(self.a(x)), torch.sigmoid(self.b(x)) * self.a(x)], 1)
        x = F.relu(self.c3(x))                         # [16, 8, 8]
        x = x.reshape(-1, 16 * 8 * 8)
        x = F.relu(self.fc(self.drop(x)))
        return self.out(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self, k=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = Block(16, 16, 1)
        self.layer2 = Block(16, 32, 2)
        self.bn_final = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, k)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, 2, 1)                    # [16, 16, 16]
        x = self.layer1(x)
        x = self.layer2(x)                              # [32, 8, 8]
        x = self.bn_final(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNet(nn.Module):
    def __init__(self, k=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.features = nn.Sequential(
            InvertedResidual(16, 16, 1, 2), InvertedResidual(16, 24, 2, 3), InvertedResidual(24, 24, 1, 3))
        self.last = nn.Sequential(nn.Conv2d(24, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU6())
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(48, k))

    def forward(self, x):
        x = self.last(self.features(self.stem(x)))       # [48, 10, 10]
        x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(torch.flatten(x, 1))


class Idioms(nn.Module):
    """What hand-written PyTorch models do that torch.onnx turns into shape
    arithmetic: F.pad (ConstantOfShape, Concat, Reshape, Slice with step -1,
    Transpose, Cast, Pad), x.view(x.size(0), -1) (Shape, Gather, Unsqueeze,
    Concat, Reshape), x.mean([2, 3]) (ReduceMean), a bilinear downsample."""

    def __init__(self, k=2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 12, 3, stride=2)
        self.fc = nn.Linear(12 * 3 * 3 + 12, k)

    def forward(self, x):
        x = F.pad(x, (1, 2, 1, 0))                       # [1, 29, 31]
        x = F.relu(self.conv1(x))                        # [8, 27, 29]
        x = F.relu(self.conv2(x))                        # [12, 13, 14]
        x = F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=False)
        h = x.mean([2, 3])
        x = x.view(x.size(0), -1)
        return self.fc(torch.cat([x, h], 1))


class Zoo(nn.Module):
    """Operator variants the other nets do not reach: AveragePool with pads
    and count_include_pad=0, MaxPool with ceil_mode, Pad with a value,
    Clip with only a minimum, Softmax inside the graph, MatMul by a weight,
    align_corners bilinear and nearest Resize, a padded strided conv,
    Squeeze, Transpose of activations, Sub and Div by tensors."""

    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 5, stride=2, padding=2)
        self.w = nn.Parameter(torch.randn(4, 5) * 0.3)
        self.fc = nn.Linear(6 * 4 * 5, k)

    def forward(self, x):
        x = F.pad(x, (2, 2, 2, 2), value=0.5)
        x = torch.clamp(self.conv(x), min=-0.2)            # [6, 18, 18]
        x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)  # [6, 9, 9]
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)          # [6, 5, 5]
        x = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=True)
        x = F.interpolate(x, scale_factor=0.5, mode="nearest")  # [6, 4, 4]
        a = torch.softmax(x, dim=1)
        x = (x - a) / (1.5 + a)
        x = x.transpose(2, 3)                              # [6, 4, 4]
        x = torch.matmul(x, self.w)                        # [6, 4, 5]
        x = x.unsqueeze(1).squeeze(1)                      # [6, 4, 5]
        return self.fc(torch.flatten(x, 1))


def randomise_bn(model, g):
    """BatchNorm running statistics and affine terms that are not the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)


def preprocess(x, side):
    """The sidecar's preprocessing, in torch: GAN images [-1, 1] -> net input."""
    c = side.get("channels", x.shape[1])
    if c == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    h, w = side["input_size"]
    if (x.shape[2], x.shape[3]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    lo, hi = side.get("range", [0.0, 1.0])
    x = lo + (x + 1) * 0.5 * (hi - lo)
    if "mean" in side:
        mean = torch.tensor(side["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(side["std"]).view(1, -1, 1, 1)
        x = (x - mean) / std
    return x


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def feature_of(model, x, module):
    """The output of `module` on x (a forward hook)."""
    got = {}
    h = module.register_forward_hook(lambda m, i, o: got.setdefault("f", o.detach()))
    model(x)
    h.remove()
    return got["f"]


def bad_models(out):
    """Small graphs built with onnx.helper that stylex must refuse, each with one clear line."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], [0.1] * 18)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    flat = helper.make_node("Flatten", ["y"], ["z"], name="flat")

    def model(nodes, inputs, output_shape, opset=13, inits=(w,)):
        g = helper.make_graph(nodes, "bad", inputs, [helper.make_tensor_value_info("z", TensorProto.FLOAT, output_shape)],
                              list(inits))
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    img = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 4, 4])
    cases = {
        # an operator stylex does not run (Erf, as GELU exports)
        "bad_operator": model([conv, helper.make_node("Erf", ["y"], ["e"], name="the_erf"),
                               helper.make_node("Flatten", ["e"], ["z"], name="flat")], [img], ["batch", 32]),
        # height and width left symbolic
        "bad_dynamic": model([conv, flat], [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         ["batch", 1, "height", "width"])],
                             ["batch", None]),
        # not an image input
        "bad_input": model([helper.make_node("Identity", ["x"], ["z"], name="id")],
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 10])], ["batch", 10],
                           inits=()),
        # an opset outside 11..17
        "bad_opset": model([conv, flat], [img], ["batch", 32], opset=9),
    }
    for name, m in cases.items():
        onnx.save(m, os.path.join(out, name + ".onnx"))
    # a good model cut in half: a truncated download
    with open(os.path.join(out, "resnet.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(out, "bad_truncated.onnx"), "wb") as f:
        f.write(data[: len(data) // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/reference/onnx")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(12)
    g = torch.Generator().manual_seed(1212)
    nets = [
        ("plain", Plain(), 11, {"class_names": ["a", "b", "c"], "input_size": [32, 32], "channels": 1,
                                "range": [0.0, 1.0]}, lambda m: m.c3),
        ("resnet", ResNet(), 13, {"class_names": ["w", "x", "y", "z"], "input_size": [32, 32], "channels": 3,
                                  "range": [0.0, 1.0], "mean": [0.485, 0.456, 0.406],
                                  "std": [0.229, 0.224, 0.225]}, lambda m: m.layer2),
        ("mobilenet", MobileNet(), 17, {"class_names": ["no", "yes"], "input_size": [40, 40], "channels": 3,
                                        "range": [-1.0, 1.0]}, lambda m: m.last),
        ("idioms", Idioms(), 13, {"input_size": [28, 28], "channels": 1, "range": [0.0, 1.0]}, lambda m: m.conv2),
        ("zoo", Zoo(), 15, {"input_size": [32, 32], "channels": 1, "range": [-1.0, 1.0]}, lambda m: m.conv),
    ]
    for name, model, opset, side, layer in nets:
        randomise_bn(model, g)
        model.eval()
        h, w = side["input_size"]
        dummy = torch.zeros(1, side["channels"], h, w)
        path = os.path.join(args.out, name + ".onnx")
        torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
        graph = onnx.load(path)
        onnx.checker.check_model(graph)
        ops = sorted({n.op_type for n in graph.graph.node})
        # the Grad-CAM layer: the graph value the hooked module's output became
        x = torch.rand(5, 1, 32, 32, generator=g) * 2 - 1
        feat = feature_of(model, preprocess(x, side), layer(model))
        if name in ("plain", "idioms"):
            feat = F.relu(feat)  # the hook sees the conv; the layer is the ReLU after it
        if name == "zoo":
            feat = torch.clamp(feat, min=-0.2)
        layer_name = None
        target = {"plain": "Relu", "resnet": "Relu", "mobilenet": "Clip", "idioms": "Relu", "zoo": "Clip"}[name]
        # the last node of that type whose output has the hooked map's shape
        shapes = {}
        inferred = onnx.shape_inference.infer_shapes(graph)
        for vi in inferred.graph.value_info:
            shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for n in graph.graph.node:
            if n.op_type == target and shapes.get(n.output[0], [])[1:] == list(feat.shape[1:]):
                layer_name = n.output[0]
        if layer_name is None:  # shape inference gave up (computed shapes): the last node of that type
            layer_name = [n.output[0] for n in graph.graph.node if n.op_type == target][-1]
        side["gradcam_layer"] = layer_name
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump({k: v for k, v in side.items() if k != "input_size"}, f, indent=1)
            f.write("\n")
        xg = x.clone().requires_grad_(True)
        logits = model(preprocess(xg, side))
        r = torch.randn(logits.shape, generator=g)
        (grad,) = torch.autograd.grad((logits * r).sum(), xg)
        write_safetensors(os.path.join(args.out, name + ".ref.safetensors"),
                          {"x": x, "logits": logits, "r": r, "grad": grad, "feature": feat},
                          {"onnx": name + ".onnx", "opset": str(opset), "layer": layer_name,
                           "torch": torch.__version__, "operators": ",".join(ops)})
        print(f"{name}: opset {opset}, {sum(p.numel() for p in model.parameters())} parameters, "
              f"{os.path.getsize(path)} bytes, layer {layer_name}, ops {' '.join(ops)}")
    bad_models(args.out)


if __name__ == "__main__":
    main()
