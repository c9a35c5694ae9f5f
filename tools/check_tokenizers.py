#!/usr/bin/env python3
"""Scalpel's token ids beside llama.cpp's (llama-cpp-python, vocab_only) and Hugging Face's on texts no
golden file has, for the tokenizer-only GGUFs.

transformers converts a GGUF's vocabulary into a `tokenizers` tokenizer, but with GPT-2's regex for every
gpt2-type vocabulary (not falcon's, starcoder's or deepseek's) and a Metaspace that differs from the
original Llama 2 tokenizer on leading spaces; llama.cpp implements each named pre-tokenizer, so it is the
reference here, and transformers is reported beside it.

A development check, never a runtime dependency:
    python tools/check_tokenizers.py [--scalpel .build/release/scalpel] [--corpus data/...csv] [--lines 2000]
"""
import argparse, json, os, random, subprocess, sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEXTS = [
    "An unflinching, beautifully shot film — though its second hour drags; 7/10.",
    "def f(x):\n\treturn x ** 2  # squares\n\n\nclass A(object): pass",
    "2026-12-03T20:19:01.123Z WARN [pool-7] retrying GET /v1/items?id=42&sort=desc (attempt 3/5)",
    "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$",
    "東京で寿司を食べた。 Москва — столица. مرحبا بالعالم. नमस्ते दुनिया! 🇫🇷🎬👩‍💻",
    "  leading spaces, trailing tabs\t\t\n\n\nthree newlines\r\nCRLF\u00a0nbsp",
    "don't I'LL we've THEY'RE it's 'quoted' ’curly’ 12345678 1,234.56 ٣٤٥ ½ Ⅻ",
    "e\u0301 decomposed, \ufeffbom, zero\u200bwidth", "a" * 300, "😀" * 20, " ", "   \n ",
]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scalpel", default=os.path.join(ROOT, ".build/release/scalpel"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "data/polarity/polarity-en-pang&lee2.csv"))
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--vocabularies", nargs="*", default=["llama-bpe", "qwen2", "gpt-2", "llama-spm", "phi-3",
                                                           "falcon", "starcoder", "gpt-neox", "deepseek-llm", "command-r",
                                                           "deepseek-coder", "mpt", "refact", "qwen35", "baichuan", "aquila"])
    args = ap.parse_args()
    from transformers import AutoTokenizer
    rng = random.Random(0)
    corpus = [l for l in open(args.corpus, encoding="utf-8", newline="").read().split("\n") if l]
    texts = TEXTS + rng.sample(corpus, min(args.lines, len(corpus)))
    # Mixed texts: pieces of different kinds glued together, so boundaries fall in new places.
    texts += ["".join(rng.sample(TEXTS, 3)) for _ in range(100)]
    total_failures = 0
    for name in args.vocabularies:
        gguf = f"ggml-vocab-{name}.gguf"
        from llama_cpp import Llama
        llama = Llama(model_path=os.path.join(ROOT, "checkpoints/vocab", gguf), vocab_only=True, verbose=False)
        try:
            hf = AutoTokenizer.from_pretrained(os.path.join(ROOT, "checkpoints/vocab"), gguf_file=gguf)
        except Exception as e:
            hf = None
        ours = []
        for start in range(0, len(texts), 500):
            chunk = texts[start:start + 500]
            out = subprocess.run([args.scalpel, "tokenize", "--model", os.path.join(ROOT, "checkpoints/vocab", gguf),
                                  "--no-special-tokens", "--json", "--"] + chunk, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name}: scalpel failed: {out.stdout[:300]} {out.stderr[:300]}")
                break
            ours += [r["ids"] for r in json.loads(out.stdout)["results"]]
        failures = hf_differences = 0
        for text, mine in zip(texts, ours):
            reference = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            if hf is not None and hf(text, add_special_tokens=False)["input_ids"] != mine:
                hf_differences += 1
            if reference != mine:
                failures += 1
                if failures <= 3:
                    first = next(i for i, (a, b) in enumerate(zip(reference + [None], mine + [None])) if a != b)
                    print(f"  {name} differs on {text[:80]!r} at id {first}:\n"
                          f"    llama.cpp {reference[max(0, first - 4):first + 8]}\n    Scalpel   {mine[max(0, first - 4):first + 8]}")
        hf_note = "transformers cannot read it" if hf is None else f"{hf_differences} differ from transformers"
        print(f"{name}: {len(ours)} texts, {failures} differ from llama.cpp; {hf_note}")
        total_failures += failures
    return 1 if total_failures else 0

if __name__ == "__main__":
    sys.exit(main())
