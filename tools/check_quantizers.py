#!/usr/bin/env python3
"""ggml's reference quantizers (quantize_row_*_ref, the ones llama-quantize uses without an importance
matrix) on random blocks, for comparing Scalpel's `quantize` with them byte for byte. A developer's check,
never run by the tests or at run time:

    /tmp/scalpel-check-venv/bin/python tools/check_quantizers.py /tmp/ggml-quantized
    SCALPEL_GGML_QUANTIZED=/tmp/ggml-quantized swift test --filter GGMLQuantizerAgreementTests

It calls the functions through ctypes in the libggml-base.so that llama-cpp-python ships (any build of
ggml whose library exports quantize_row_*_ref will do: --library). It writes to the directory:
- inputs.f32: the values, little-endian float32, a whole number of 256-value super-blocks;
- <TYPE>.ggml: ggml's bytes for all of inputs.f32, for each type below;
- manifest.json: the super-block count, what each super-block holds, and the library used.
The inputs mix Gaussian blocks of very different scales, sub-blocks of very different scales within a
block, all-zero, constant, all-negative and one-outlier blocks, values on a grid (ties for rounding),
+0/−0 mixes, heavy tails, and tiny and huge magnitudes, where the searches take their rare branches.
"""
import argparse
import ctypes
import glob
import json
import os

import numpy as np

TYPES = {  # name: (block size, bytes per block)
    "Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24),
    "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
}


def default_library():
    import llama_cpp
    found = glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so*"))
    if not found:
        raise SystemExit("no libggml-base.so in the llama_cpp package; pass --library")
    return sorted(found)[0]


def super_block(kind, rng):
    """256 float32 values of the given kind."""
    g = rng.standard_normal(256)
    if kind.startswith("gauss:"):
        return g * float(kind.split(":")[1])
    if kind == "subscales":       # every 16 values a scale from 1e-4 to 10
        return g * np.repeat(10.0 ** rng.uniform(-4, 1, 16), 16)
    if kind == "subscales32":     # every 32 values, with some sub-blocks all zero
        s = 10.0 ** rng.uniform(-3, 1, 8)
        s[rng.integers(0, 8, 2)] = 0
        return g * np.repeat(s, 32)
    if kind == "zero":
        return np.zeros(256)
    if kind == "signed-zeros":
        return np.where(rng.integers(0, 2, 256) == 1, -0.0, 0.0)
    if kind == "outlier":
        x = g * 0.02
        x[rng.integers(0, 256)] = rng.choice([-1, 1]) * 5.0
        return x
    if kind == "constant":
        return np.full(256, rng.uniform(-2, 2))
    if kind == "constant-sub":    # constant within each 16
        return np.repeat(rng.uniform(-1, 1, 16), 16)
    if kind == "negative":
        return -np.abs(g) * 0.1
    if kind == "positive":
        return np.abs(g) * 0.1 + 0.05
    if kind == "grid":            # integers and halves: exact ties for nearest_int
        return np.round(g * 4) / 2
    if kind == "sparse":
        x = np.zeros(256)
        idx = rng.integers(0, 256, 8)
        x[idx] = g[idx]
        return x
    if kind == "heavy":
        return np.clip(rng.standard_cauchy(256) * 0.01, -50, 50)
    if kind == "tiny":
        return g * 1e-20
    if kind == "subnormal":
        return g * 1e-39
    if kind == "huge":
        return g * 1e4
    if kind == "uniform":
        return rng.uniform(-1, 1, 256)
    raise ValueError(kind)


KINDS = (["gauss:1", "gauss:0.02", "gauss:0.001", "gauss:100"] * 4
         + ["subscales", "subscales32", "zero", "signed-zeros", "outlier", "constant", "constant-sub", "negative",
            "positive", "grid", "sparse", "heavy", "tiny", "subnormal", "huge", "uniform"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", help="directory to write inputs.f32, <TYPE>.ggml and manifest.json to")
    parser.add_argument("--blocks", type=int, default=4000, help="super-blocks of 256 values")
    parser.add_argument("--seed", type=int, default=20260611)
    parser.add_argument("--library", default=None)
    args = parser.parse_args()
    library = args.library or default_library()
    lib = ctypes.CDLL(library)
    rng = np.random.default_rng(args.seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(args.blocks)]
    x = np.concatenate([super_block(k, rng) for k in kinds]).astype(np.float32)
    os.makedirs(args.out, exist_ok=True)
    x.tofile(os.path.join(args.out, "inputs.f32"))
    for name, (size, nbytes) in TYPES.items():
        fn = getattr(lib, "quantize_row_%s_ref" % name.lower().replace("_k", "_K"))
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        out = np.zeros(x.size // size * nbytes, dtype=np.uint8)
        fn(x.ctypes.data, out.ctypes.data, x.size)
        out.tofile(os.path.join(args.out, name + ".ggml"))
    manifest = {"super_blocks": args.blocks, "kinds": kinds, "library": os.path.realpath(library), "seed": args.seed}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    print("wrote %d super-blocks and %d types to %s (%s)" % (args.blocks, len(TYPES), args.out, library))


if __name__ == "__main__":
    main()
