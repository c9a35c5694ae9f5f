#!/usr/bin/env python3
"""llama.cpp's CPU speed on a GGUF, beside Scalpel's on the same file, one after the other.

Prompt processing: one pass over BATCH x LENGTH tokens (llama.cpp as BATCH sequences of LENGTH tokens,
each evaluated from an empty cache, with logits at the last position only); Scalpel's
`bench forward --variant no-hooks` on the same shape. Greedy decoding: tokens per second after a short
prompt, llama.cpp's `Llama.generate` against `scalpel generate --json`'s decode_tokens_per_second.

Needs llama-cpp-python (pip install llama-cpp-python==0.3.36, which builds llama.cpp for this CPU).
Never a runtime dependency of Scalpel.

    tools/bench_llama_cpp.py MODEL.gguf [--threads 2] [--batch 8] [--length 64] [--decode 32]
                             [--precision int8 --precision fp32] [--scalpel .build/release/scalpel]

Both programs run pinned to the first `threads` cores this process may use (Scalpel takes every core
it is given). Scalpel's prompt processing and decoding run once per --precision; the first precision's
figures are `prompt_tokens_per_second` and `decode_tokens_per_second`, the others' carry its name.
"""
import argparse
import json
import os
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


def scalpel(binary, model, batch, length, decode, precisions):
    result = {}
    for precision in precisions:
        suffix = "" if precision == precisions[0] else f"_{precision}"
        forward = json.loads(subprocess.run([binary, "bench", "forward", "--model", model, "--batch", str(batch),
                                             "--length", str(length), "--variant", "no-hooks", "--repeats", "1",
                                             "--precision", precision, "--json"],
                                            check=True, capture_output=True, text=True).stdout)
        result[f"prompt_tokens_per_second{suffix}"] = forward["results"][0]["tokens_per_second"]
        result[f"forward_peak_rss_mb{suffix}"] = forward["peak_rss_mb"]
        # A prompt whose greedy continuation may end early at EOS: decode_tokens_per_second counts what ran.
        generated = json.loads(subprocess.run([binary, "generate", "--model", model, "--prompt", "The history of the city begins",
                                               "--max-tokens", str(decode + 1), "--precision", precision, "--json"],
                                              check=True, capture_output=True, text=True).stdout)
        result[f"decode_tokens_per_second{suffix}"] = generated.get("decode_tokens_per_second")
        result[f"decoded_tokens{suffix}"] = len(generated.get("ids", []))
        result["kernels"] = generated.get("kernels")
        result[f"generate_peak_rss_mb{suffix}"] = generated.get("peak_rss_mb")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--decode", type=int, default=32)
    parser.add_argument("--scalpel", default=".build/release/scalpel")
    parser.add_argument("--precision", action="append", choices=["fp32", "int8", "bf16"],
                        help="Scalpel's precision, for prompts and decoding; repeat for several (default: int8, then fp32)")
    args = parser.parse_args()
    precisions = args.precision or ["int8", "fp32"]
    # Scalpel uses every core it is given: pin both programs to the same `threads` cores.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.threads]))
    print(f"llama.cpp on {args.model}…", file=sys.stderr)
    reference = llama_cpp(args.model, args.threads, args.batch, args.length, args.decode)
    print(f"Scalpel on {args.model}…", file=sys.stderr)
    ours = scalpel(args.scalpel, args.model, args.batch, args.length, args.decode, precisions)
    ratios = {key: ours[key] / reference[base] for key, base in
              [(k, "prompt_tokens_per_second") for k in ours if k.startswith("prompt_tokens_per_second")] +
              [(k, "decode_tokens_per_second") for k in ours if k.startswith("decode_tokens_per_second")]
              if ours.get(key) and reference.get(base)}
    print(json.dumps({"model": args.model, "llama_cpp": reference, "scalpel": ours, "scalpel_over_llama_cpp": ratios}, indent=2))


if __name__ == "__main__":
    main()
