#!/usr/bin/env python3
"""Generate a static sparse devenv index for benchmarks.

usage: gen_index.py DIR [NAMES] [VERSIONS_PER_NAME]

Writes DIR/index.json, DIR/names.jsonl and DIR/packages/<name>.json in the format documented in
docs/index.md: NAMES packages (default 20000) with VERSIONS_PER_NAME versions each (default 5),
each version with outputs on the four lock systems, so file sizes resemble a real index built over
many nixpkgs revisions. Deterministic: the same arguments give the same bytes.
"""
import hashlib
import json
import os
import sys

SYSTEMS = ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]
ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"


def h(*parts, n=32):
    d = hashlib.sha256("/".join(parts).encode()).digest()
    d = d + hashlib.sha256(d).digest()
    return "".join(ALPHABET[b % 32] for b in d[:n])


def rev(*parts):
    return hashlib.sha1("/".join(parts).encode()).hexdigest()


def main():
    out = sys.argv[1]
    names = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    os.makedirs(os.path.join(out, "packages"), exist_ok=True)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"format": 1, "id": "bench-index", "systems": SYSTEMS}, f)
    lines = []
    for i in range(names):
        name = f"pkg-{i:05d}"
        summary = f"Benchmark package number {i}, a tool that does one thing well"
        versions = []
        for j in range(per):
            version = f"{1 + j // 3}.{j % 3}.{i % 7}"
            r = rev(name, version)
            systems = {}
            for s in SYSTEMS:
                outputs = [
                    {"name": "out", "path": f"/nix/store/{h(name, version, s, 'out')}-{name}-{version}", "default": True},
                    {"name": "man", "path": f"/nix/store/{h(name, version, s, 'man')}-{name}-{version}-man", "default": True},
                    {"name": "dev", "path": f"/nix/store/{h(name, version, s, 'dev')}-{name}-{version}-dev"},
                ]
                systems[s] = {"outputs": outputs}
            versions.append({
                "version": version,
                "attr_path": name,
                "rev": r,
                "last_modified": f"2024-{1 + j % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
                "systems": systems,
            })
        pkg = {
            "name": name,
            "summary": summary,
            "homepage": f"https://example.org/{name}",
            "license": ["MIT"],
            "versions": versions,
        }
        with open(os.path.join(out, "packages", f"{name}.json"), "w") as f:
            json.dump(pkg, f, indent=1)
        lines.append(json.dumps({"name": name, "summary": summary, "latest": versions[-1]["version"]}))
    with open(os.path.join(out, "names.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
