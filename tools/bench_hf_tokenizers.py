#!/usr/bin/env python3
"""Hugging Face's Rust `tokenizers` beside `scalpel bench tokenizer`, on the same vocabulary and corpus,
one after the other, single-threaded (RAYON_NUM_THREADS=1, one `encode` per line, as Scalpel encodes).
A developer's measurement, never a run-time dependency:
    /tmp/venv/bin/pip install transformers gguf && /tmp/venv/bin/python tools/bench_hf_tokenizers.py
Vocabularies are llama.cpp's tokenizer-only GGUFs (Scripts/fetch tokenizers), which transformers reads
for Llama 3 and Qwen2.
"""
import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scalpel", default=os.path.join(ROOT, ".build/release/scalpel"))
    parser.add_argument("--corpus", default=os.path.join(ROOT, "data/polarity/polarity-en-pang&lee2.csv"))
    parser.add_argument("--vocabularies", nargs="*", default=["llama-bpe", "qwen2"])
    args = parser.parse_args()
    from transformers import AutoTokenizer
    # newline="" keeps "\r\n" as it is and utf-8-sig drops the byte-order mark as Foundation does, so the
    # lines are exactly the ones `scalpel bench tokenizer` reads.
    lines = open(args.corpus, encoding="utf-8-sig", newline="").read().split("\n")
    lines = [line for line in lines if line]
    for name in args.vocabularies:
        folder = os.path.join(ROOT, "checkpoints/vocab")
        hf = AutoTokenizer.from_pretrained(folder, gguf_file=f"ggml-vocab-{name}.gguf")._tokenizer
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            tokens = sum(len(hf.encode(line, add_special_tokens=False).ids) for line in lines)
            rates.append(tokens / (time.perf_counter() - start))
        out = subprocess.run([args.scalpel, "bench", "tokenizer", "--model", os.path.join(folder, f"ggml-vocab-{name}.gguf"),
                              "--corpus", args.corpus, "--json"], capture_output=True, text=True, check=True)
        ours = json.loads(out.stdout)
        print(f"{name}: {len(lines)} lines, {tokens} tokens (HF) / {ours['tokens']} (Scalpel); tokens/s, one thread: "
              f"HF tokenizers {max(rates):,.0f} (best of 3), Scalpel first pass {ours['first_pass_tokens_per_second']:,.0f}, "
              f"warm {ours['warm_tokens_per_second']:,.0f}")


if __name__ == "__main__":
    main()
