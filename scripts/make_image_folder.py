#!/usr/bin/env python3
"""Write part of Fashion-MNIST (IDX files, as `lot data fetch fashion-mnist` leaves them) as an
image folder, the layout `data.dataset = "image-folder"` reads (docs/own-data.md):
OUT/train/<class>/<i>.png and OUT/test/<class>/<i>.png, 8-bit grey PNGs. Standard library only.

    python3 scripts/make_image_folder.py --src ~/.cache/lot/data/fashion-mnist --out /tmp/fm-folder --train 2000 --test 1000
"""
import argparse, gzip, os, struct, zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x0803:
        h, w = struct.unpack(">II", data[8:16])
        return [data[16 + i * h * w: 16 + (i + 1) * h * w] for i in range(n)], (h, w)
    return list(data[8:8 + n]), None


def png(pixels, h, w):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def find(src, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(src, name)):
            return os.path.join(src, name)
    raise SystemExit(f"error: {src}: no {stem}[.gz]; run `lot data fetch fashion-mnist` first")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1000)
    a = ap.parse_args()
    for split, prefix, n in [("train", "train", a.train), ("test", "t10k", a.test)]:
        images, (h, w) = read_idx(find(a.src, f"{prefix}-images-idx3-ubyte"))
        labels, _ = read_idx(find(a.src, f"{prefix}-labels-idx1-ubyte"))
        for i in range(min(n, len(images))):
            d = os.path.join(a.out, split, CLASSES[labels[i]])
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{i:05d}.png"), "wb") as f:
                f.write(png(images[i], h, w))
    print(f"wrote {a.out}/train and {a.out}/test")


if __name__ == "__main__":
    main()
