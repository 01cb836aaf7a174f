#!/usr/bin/env python3
"""Golden outputs for the Atari observation preprocessing (crates/lot/src/rl/atari/preprocess.rs).

cleanRL's ppo_atari (gym 0.23) turns each 210x160 RGB frame into 84x84 gray with
    cv2.resize(rgb, (84, 84), interpolation=cv2.INTER_AREA)      # ResizeObservation
    cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)                       # GrayScaleObservation
This script builds a few synthetic 210x160 RGB frames from a seeded integer formula (no game
frames), runs them through exactly those two OpenCV calls and writes the results as a small
gzipped fixture. The Rust test regenerates the same frames from the same formula (synthetic_frame
in preprocess.rs) and compares byte for byte.

Run once (pinned versions, throwaway venv under /tmp):
    python3 -m venv /tmp/lot-cv && /tmp/lot-cv/bin/pip install opencv-python-headless==4.10.0.84 numpy==2.1.3
    /tmp/lot-cv/bin/python scripts/make_atari_golden.py

Output, in crates/lot/tests/fixtures/atari/ (about 14 KB):
- gray84.bin.gz: gunzipped, the 84x84 gray outputs (84*84 bytes each) of frame kinds 0..3 in order;
- golden.sha256: per kind, the sha256 of the synthetic input frame (210*160*3 bytes, row-major HWC),
  of the INTER_AREA-resized RGB (84*84*3 bytes) and of the gray output, then the kind's name.
  (The resized RGB itself does not compress well, so only its hash is kept.)
"""
import gzip
import hashlib
import os
import sys

import cv2
import numpy as np

assert cv2.__version__ == "4.10.0", cv2.__version__
assert np.__version__ == "2.1.3", np.__version__

H, W = 210, 160
M32 = 0xFFFFFFFF
KINDS = ["noise", "blocks", "gradient", "sparse"]
# A few Atari NTSC palette colours (for the blocky frame).
PALETTE = [(0, 0, 0), (200, 72, 72), (198, 108, 58), (180, 122, 48),
           (162, 162, 42), (72, 160, 72), (66, 72, 200), (236, 236, 236)]


def h32(x):
    """A 32-bit integer hash (murmur3-style finaliser on x * golden ratio)."""
    x = (x * 0x9E3779B1) & M32
    x ^= x >> 15
    x = (x * 0x85EBCA77) & M32
    x ^= x >> 13
    x = (x * 0xC2B2AE3D) & M32
    x ^= x >> 16
    return x


def frame(kind):
    f = np.zeros((H, W, 3), dtype=np.uint8)
    for y in range(H):
        for x in range(W):
            for c in range(3):
                i = (y * W + x) * 3 + c
                if kind == 0:  # uniform noise: every pixel independent
                    v = h32(i) & 255
                elif kind == 1:  # flat blocks of palette colours, 7x5, off the 2.5 x 1.905 grid
                    v = PALETTE[h32((y // 7) * 32 + x // 5 + 1000) % 8][c]
                elif kind == 2:  # smooth gradients
                    v = ((y * 255) // (H - 1), (x * 255) // (W - 1), (x * 3 + y * 5) % 256)[c]
                else:  # black with a brick band and sparse single bright pixels (ball-like)
                    if 57 <= y < 63:
                        v = (200, 72, 72)[c]
                    elif h32(y * W + x + 7777) % 50 == 0:
                        v = (236, 236, 236)[c]
                    else:
                        v = 0
                f[y, x, c] = v
    return f


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out_dir = os.path.join(root, "crates", "lot", "tests", "fixtures", "atari")
    os.makedirs(out_dir, exist_ok=True)
    grays = bytearray()
    lines = []
    sha = lambda b: hashlib.sha256(b).hexdigest()
    for k, name in enumerate(KINDS):
        f = frame(k)
        small = cv2.resize(f, (84, 84), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        assert small.shape == (84, 84, 3) and small.dtype == np.uint8
        assert gray.shape == (84, 84) and gray.dtype == np.uint8
        grays += gray.tobytes()
        lines.append(f"{sha(f.tobytes())} {sha(small.tobytes())} {sha(gray.tobytes())} {name}\n")
    # mtime=0: the same bytes on every run
    with open(os.path.join(out_dir, "gray84.bin.gz"), "wb") as fh:
        fh.write(gzip.compress(bytes(grays), compresslevel=9, mtime=0))
    with open(os.path.join(out_dir, "golden.sha256"), "w") as fh:
        fh.writelines(lines)
    print(f"wrote {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
