"""Script the PyTorch PreAct ResNet (benches/reference/vision_lot.py, the reference's model) for lot's
TorchScript models (docs/torchscript.md): build it, optionally load a state_dict from a
.safetensors file (lot's saved weights, e.g. a run's teacher.safetensors: PyTorch's names), then
torch.jit.script it and torch.jit.save it.

    python scripts/script_resnet.py --depth 8 --classes 10 --out teacher.pt [--weights w.safetensors]
        [--in-channels 3] [--input-size 32] [--seed 0] [--freeze NAME ...]

--freeze sets requires_grad=False on the named parameters (lot refuses such a module: a test).
Needs torch only (the .safetensors reader is below: 8-byte header length, JSON header, bytes).
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "reference"))
from vision_lot import PreResNet  # noqa: E402


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header, base = json.loads(b[8 : 8 + n]), 8 + n
    kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(b[base + s : base + e]), dtype=kinds[v["dtype"]]).reshape(v["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, required=True)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--input-size", type=int, default=32, help="image height = width (the final pool is input_size/4)")
    ap.add_argument("--weights", help="a .safetensors state_dict to load (strict)")
    ap.add_argument("--seed", type=int, default=0, help="PyTorch's init seed when no --weights")
    ap.add_argument("--freeze", nargs="*", default=[], help="parameters to set requires_grad=False on")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = PreResNet(a.depth, num_classes=a.classes, in_channels=a.in_channels, input_size=a.input_size)
    if a.weights:
        m.load_state_dict(read_safetensors(a.weights), strict=True)
    params = dict(m.named_parameters())
    for name in a.freeze:
        params[name].requires_grad_(False)
    m.train()
    torch.jit.save(torch.jit.script(m), a.out)
    print(a.out)


if __name__ == "__main__":
    main()
