#!/usr/bin/env python3
"""scripts/check_safetensors.py — checks a safetensors file written by stylex
against a raw dump of the same tensors, bit for bit, with numpy only (no
`safetensors` package), so the checkpoint format is verified by a parser that
shares no code with the library.

    python3 scripts/check_safetensors.py CKPT.safetensors DUMP [--meta KEY=VALUE ...]

DUMP (written by tests/lua/test_io.lua from the values Lua sees) is:
    b"SXDUMP1\\n", then per tensor: u32 name length, name (UTF-8),
    u32 ndim, ndim x u64 sizes, prod(sizes) x float32; all little-endian.

Checks the file layout the way the Python `safetensors` reader does (8-byte
little-endian header length, a JSON object, data_offsets that tile the data
region exactly, string-only __metadata__), that the header is padded to a
multiple of 8 with spaces, that every tensor is F32, that the set of names
matches the dump and that each tensor's bytes equal the dump's. Exits 0 when
everything matches, 1 on a mismatch, 2 on a usage or parse error.
"""
import argparse
import json
import struct
import sys

import numpy as np


def fail(code, msg):
    print("check_safetensors: " + msg, file=sys.stderr)
    sys.exit(code)


def read_checkpoint(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail(1, f"{path}: shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        fail(1, f"{path}: header length {hlen} runs past the end ({len(blob)} bytes)")
    if (8 + hlen) % 8 != 0:
        fail(1, f"{path}: data does not start at a multiple of 8 (header length {hlen})")
    raw = blob[8 : 8 + hlen]
    if raw.rstrip(b" ") != raw.rstrip():
        fail(1, f"{path}: header padding is not spaces")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(1, f"{path}: header is not valid JSON: {e}")
    if not isinstance(header, dict):
        fail(1, f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        fail(1, f"{path}: __metadata__ must map strings to strings")
    data = blob[8 + hlen :]
    tensors = {}
    spans = []
    for name, info in header.items():
        if info.get("dtype") != "F32":
            fail(1, f"{path}: tensor {name!r} has dtype {info.get('dtype')!r}, expected F32")
        shape = info["shape"]
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != 4 * count:
            fail(1, f"{path}: tensor {name!r}: shape {shape} needs {4 * count} bytes, offsets span {end - begin}")
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(data, dtype="<u4", count=count, offset=begin).reshape(shape)
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            fail(1, f"{path}: tensor {name!r} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        fail(1, f"{path}: {len(data) - pos} bytes after the last tensor")
    return tensors, meta


def read_dump(path):
    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(b"SXDUMP1\n"):
        fail(2, f"{path}: not a stylex tensor dump")
    pos = 8
    out = {}

    def take(n):
        nonlocal pos
        if pos + n > len(blob):
            fail(2, f"{path}: truncated dump")
        chunk = blob[pos : pos + n]
        pos += n
        return chunk

    while pos < len(blob):
        (nlen,) = struct.unpack("<I", take(4))
        name = take(nlen).decode("utf-8")
        (ndim,) = struct.unpack("<I", take(4))
        shape = list(struct.unpack(f"<{ndim}Q", take(8 * ndim)))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        out[name] = np.frombuffer(take(4 * count), dtype="<u4").reshape(shape)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description="Compare a stylex safetensors file with a raw tensor dump.")
    ap.add_argument("checkpoint")
    ap.add_argument("dump")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="also require this __metadata__ entry")
    opts = ap.parse_args(argv[1:])
    args, metas = [opts.checkpoint, opts.dump], opts.meta
    try:
        dump = read_dump(args[1])
        tensors, meta = read_checkpoint(args[0])
    except OSError as e:
        fail(2, str(e))
    except (KeyError, TypeError, ValueError) as e:
        fail(1, f"{args[0]}: malformed tensor entry: {e!r}")
    if set(tensors) != set(dump):
        fail(1, f"names differ: file has {sorted(tensors)}, dump has {sorted(dump)}")
    for name, want in dump.items():
        got = tensors[name]
        if list(got.shape) != list(want.shape):
            fail(1, f"tensor {name!r}: shape {list(got.shape)} in the file, {list(want.shape)} in the dump")
        diff = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        if diff.size:
            i = int(diff[0])
            g = got.reshape(-1)[i : i + 1].view("<f4")[0]
            w = want.reshape(-1)[i : i + 1].view("<f4")[0]
            fail(1, f"tensor {name!r}: {diff.size} elements differ, first at {i}: file {g!r}, dump {w!r}")
    for kv in metas:
        key, _, value = kv.partition("=")
        if meta.get(key) != value:
            fail(1, f"__metadata__[{key!r}] is {meta.get(key)!r}, expected {value!r}")
    print(f"check_safetensors: {len(dump)} tensors and {len(meta)} metadata entries match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
