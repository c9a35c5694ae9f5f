#!/usr/bin/env python3
"""Reference dequantizations for Tests/CheckpointsTests: random blocks of every block format Scalpel
reads, dequantized by gguf-py (llama.cpp's own Python package, numpy float32 arithmetic in ggml's order).
The f16 scale fields get finite values; every other byte is random.

    python Tests/Fixtures/generate/dequantize_reference.py > Tests/CheckpointsTests/Fixtures/dequantize_reference.json
"""
import json
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# (type, bytes per block, offsets of its f16 fields)
FORMATS = [
    ("Q4_0", T.Q4_0, 18, [0]), ("Q4_1", T.Q4_1, 20, [0, 2]), ("Q5_0", T.Q5_0, 22, [0]),
    ("Q5_1", T.Q5_1, 24, [0, 2]), ("Q8_0", T.Q8_0, 34, [0]), ("Q2_K", T.Q2_K, 84, [80, 82]),
    ("Q3_K", T.Q3_K, 110, [108]), ("Q4_K", T.Q4_K, 144, [0, 2]), ("Q5_K", T.Q5_K, 176, [0, 2]),
    ("Q6_K", T.Q6_K, 210, [208]),
]

rng = np.random.default_rng(20261203)
cases = []
for name, qtype, size, halves in FORMATS:
    blocks = rng.integers(0, 256, size=(3, size), dtype=np.uint8)
    for offset in halves:
        values = (rng.standard_normal(3) * 0.05).astype(np.float16)
        blocks[:, offset:offset + 2] = values.view(np.uint8).reshape(3, 2)
    raw = blocks.reshape(-1)
    count = 3 * gguf.GGML_QUANT_SIZES[qtype][0]
    out = dequantize(raw, qtype).astype(np.float32).reshape(-1)
    assert out.size == count and np.isfinite(out).all()
    cases.append({"type": name, "count": count, "bytes": raw.tobytes().hex(),
                  "float_bits": out.view(np.uint32).tolist()})
print(json.dumps({"source": "gguf-py dequantize (llama.cpp's own Python package)", "cases": cases}))
