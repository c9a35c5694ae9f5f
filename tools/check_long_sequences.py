#!/usr/bin/env python3
"""Sequences no golden file covers: 300 random token ids per family (past Gemma 2's 16-token window, deep
into Llama 3's scaled frequencies), run by transformers on each golden family's folder and by Scalpel on
the folder and on the F32 GGUF. A developer's check, never a run-time dependency:
    /tmp/venv/bin/pip install torch transformers && /tmp/venv/bin/python tools/check_long_sequences.py
Exits non-zero when a logit differs by more than 1e-3 (the golden README's float32 bound).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_real_clients import FAMILIES, ROOT, scalpel_logits, transformers_logits  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scalpel", default=os.path.join(ROOT, ".build/release/scalpel"))
    parser.add_argument("--golden", default=os.path.join(os.path.dirname(ROOT), "shared/golden/families"))
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    failures = 0
    for family in FAMILIES:
        for seed in range(args.seeds):
            ids = np.random.default_rng(1000 + seed).integers(4, 512, size=args.length).tolist()
            reference = transformers_logits(os.path.join(args.golden, family, "hf"), ids)
            for source in ["hf", "model-f32.gguf"]:
                ours = scalpel_logits(args.scalpel, os.path.join(args.golden, family, source), ids)
                difference = np.abs(ours - reference).max()
                ok = difference <= 1e-3
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {family:8s} seed {seed} {source:15s} {args.length} tokens: max |Δ| {difference:.3g}", flush=True)
    print(f"{failures} check(s) failed" if failures else "every check passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
