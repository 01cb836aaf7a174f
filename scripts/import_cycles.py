#!/usr/bin/env python3
"""Import graph of the `lot` crate and its cycles (standard library only).

Every `crate::a::b` path in a module file (in `use` lines and inline) is an edge from that module to
the deepest module of the path that is a file in src/. Prints the graph (`module -> deps`) with
--graph, and every strongly connected component of more than one module; exits 1 if there is one.

    python3 scripts/import_cycles.py [--graph] [SRC]     # SRC defaults to crates/lot/src
"""
import os
import re
import sys


def modules(src):
    """module path ('vision::train') -> file, for every .rs file under src."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            out["::".join(rel)] = os.path.join(root, f)
    return out


def strip_tests(text):
    """Drop `#[cfg(test)] mod tests { ... }` (test-only imports do not count) and comment lines
    (doc links are not imports)."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    text = text[: m.start()] if m else text
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))


PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super|self)::((?:\w+::)*)\{([^;]*?)\}", re.S)


def deps(mod, text, mods):
    """Modules `mod` names through crate::, super:: or self:: paths."""
    here = mod.split("::") if mod else []
    root = {"crate": [], "super": here[:-1], "self": here}
    found = set()
    paths = [root[r] + p.lstrip(":").split("::") for r, p in PATH.findall(text)]
    for r, prefix, inner in GROUP.findall(text):  # use crate::a::{b, c::d}
        base = root[r] + [s for s in prefix.split("::") if s]
        for item in inner.split(","):
            item = item.strip().split(" as ")[0]
            if item and item != "self":
                paths.append(base + [s for s in item.replace("{", "").split("::") if s])
    for raw in paths:
        parts = []  # resolve `super::super::x` and `self::x`
        for p in raw:
            if p == "super":
                parts = parts[:-1]
            elif p != "self":
                parts.append(p)
        for n in range(len(parts), 0, -1):
            cand = "::".join(parts[:n])
            if cand in mods:
                if cand != mod and not mod.startswith(cand + "::") and not cand.startswith(mod + "::"):
                    found.add(cand)
                break
    return found


def sccs(graph):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    show = "--graph" in argv
    args = [a for a in argv if a != "--graph"]
    src = args[0] if args else "crates/lot/src"
    mods = modules(src)
    graph = {}
    for mod, path in sorted(mods.items()):
        if not mod:
            continue
        with open(path, encoding="utf-8") as f:
            graph[mod] = deps(mod, strip_tests(f.read()), mods)
    if show:
        for mod in sorted(graph):
            print(f"{mod} -> {', '.join(sorted(graph[mod])) or '(none)'}")
    cycles = [c for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        print(f"cycle ({len(c)} modules): {' <-> '.join(c)}")
    print(f"{len(graph)} modules, {sum(len(d) for d in graph.values())} edges, {len(cycles)} cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
