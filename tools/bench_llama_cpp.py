#!/usr/bin/env python3
"""llama.cpp's CPU speed on a GGUF, beside Scalpel's on the same file, one after the other.

Prompt processing: one pass over BATCH x LENGTH tokens (llama.cpp as BATCH sequences of LENGTH tokens,
each evaluated from an empty cache, with logits at the last position only); Scalpel's
`bench forward --variant no-hooks` on the same shape. Greedy decoding: tokens per second after a short
prompt, llama.cpp's `Llama.generate` against `scalpel generate --json`'s decode_tokens_per_second.

Needs llama-cpp-python (pip install llama-cpp-python==0.3.36, which builds llama.cpp for this CPU).
Never a runtime dependency of Scalpel.

    tools/bench_llama_cpp.py MODEL.gguf [--threads 2] [--batch 8] [--length 64] [--decode 32] [--scalpel .build/release/scalpel]
"""
import argparse
import json
import random
import subprocess
import sys
import time


def llama_cpp(model, threads, batch, length, decode):
    from llama_cpp import Llama

    llm = Llama(model_path=model, n_ctx=max(length, 256) + decode + 16, n_batch=length, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    vocab = llm.n_vocab()
    rng = random.Random(1)
    sequences = [[rng.randrange(3, vocab) for _ in range(length)] for _ in range(batch)]
    best = float("inf")
    for _ in range(2):     # the first round warms the caches up
        start = time.perf_counter()
        for tokens in sequences:
            llm.reset()
            llm.eval(tokens)
        best = min(best, time.perf_counter() - start)
    prompt = llm.tokenize(b"The history of the city begins", add_bos=True)
    llm.reset()
    times = []
    for _ in llm.generate(prompt, temp=0.0, reset=True):
        times.append(time.perf_counter())
        if len(times) > decode:
            break
    decode_rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None
    return {"prompt_tokens_per_second": batch * length / best, "decode_tokens_per_second": decode_rate}


def scalpel(binary, model, batch, length, decode):
    forward = json.loads(subprocess.run([binary, "bench", "forward", "--model", model, "--batch", str(batch), "--length", str(length),
                                         "--variant", "no-hooks", "--repeats", "1", "--json"],
                                        check=True, capture_output=True, text=True).stdout)
    generated = json.loads(subprocess.run([binary, "generate", "--model", model, "--prompt", "The history of the city begins",
                                           "--max-tokens", str(decode + 1), "--json"],
                                          check=True, capture_output=True, text=True).stdout)
    return {"prompt_tokens_per_second": forward["results"][0]["tokens_per_second"],
            "decode_tokens_per_second": generated.get("decode_tokens_per_second"),
            "forward_peak_rss_mb": forward["peak_rss_mb"], "generate_peak_rss_mb": generated.get("peak_rss_mb")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--decode", type=int, default=32)
    parser.add_argument("--scalpel", default=".build/release/scalpel")
    args = parser.parse_args()
    print(f"llama.cpp on {args.model}…", file=sys.stderr)
    reference = llama_cpp(args.model, args.threads, args.batch, args.length, args.decode)
    print(f"Scalpel on {args.model}…", file=sys.stderr)
    ours = scalpel(args.scalpel, args.model, args.batch, args.length, args.decode)
    ratios = {key: ours[key] / reference[key] for key in ("prompt_tokens_per_second", "decode_tokens_per_second")
              if ours.get(key) and reference.get(key)}
    print(json.dumps({"model": args.model, "llama_cpp": reference, "scalpel": ours, "scalpel_over_llama_cpp": ratios}, indent=2))


if __name__ == "__main__":
    main()
