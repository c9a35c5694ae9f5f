"""Writes Tests/TokenizersTests/Fixtures/sentencepiece_reference.json: a tiny SentencePiece-style
tokenizer.json (BPE with byte fallback, as Hugging Face writes Llama 2 / Mistral / Phi-3) and the ids and
decoded texts Hugging Face `tokenizers` gives for varied texts, in three spellings of the whitespace rules.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers transformers gguf numpy
    /tmp/v/bin/python Tests/Fixtures/generate/sentencepiece_reference.py

The vocabulary is cut from llama.cpp's ggml-vocab-llama-spm.gguf (Scripts/fetch tokenizers): the 300
best-scored normal pieces made of a few letters and "▁", the runs "▁▁".."▁▁▁▁" (score -1e9, a tie),
"é" and "Å", the 256 byte pieces and <unk> <s> </s>. Merges come from transformers' generate_merges over
those scores, as its GGUF converter makes them. Added tokens beyond the vocabulary: <|user|> (special,
rstrip), <|end|> (special, lstrip) and <sep> (not special).

Variants (the fixture stores the `legacy` file and, per variant, the parts that differ):
- legacy: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer, decoder
  Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)], TemplateProcessing "<s> $A".
- metaspace_first: no normalizer, Metaspace(prepend_scheme "first", split false), the same decoder,
  TemplateProcessing "<s> $A </s>".
- metaspace_always_split: Metaspace(prepend_scheme "always", split true), decoder
  Sequence[ByteFallback, Metaspace], ignore_merges, no post-processor.
"""
import copy
import json
import os
import random

from gguf import GGUFReader
from tokenizers import Tokenizer
from transformers.tokenization_utils_base import generate_merges

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPACE = "\u2581"
LETTERS = set("abcdehilmnorstuwy.,'" + SPACE)


def field(reader, key):
    f = reader.fields[key]
    if f.types[-1].name == "STRING":
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    return [f.parts[i][0].item() for i in f.data]


def vocabulary():
    reader = GGUFReader(os.path.join(ROOT, "checkpoints", "vocab", "ggml-vocab-llama-spm.gguf"))
    tokens, scores, types = (field(reader, "tokenizer.ggml." + k) for k in ("tokens", "scores", "token_type"))
    normal = [i for i, t in enumerate(tokens) if types[i] == 1 and set(t) <= LETTERS and len(t) <= 4 and SPACE not in t[1:]]
    chosen = sorted(normal, key=lambda i: -scores[i])[:300]
    extra = [tokens.index(t) for t in [SPACE * 2, SPACE * 3, SPACE * 4, "\u00e9", "\u00c5"]]
    singles = [tokens.index(c) for c in sorted(LETTERS)]
    keep = sorted(set(chosen + extra + singles), key=lambda i: (-scores[i], i))
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + [tokens[i] for i in keep]
    piece_scores = {tokens[i]: scores[i] for i in keep}
    return pieces, piece_scores


def tokenizer_json(pieces, piece_scores):
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = [list(m) for m in generate_merges(vocab, piece_scores)]
    n = len(pieces)

    def added(i, content, special, lstrip=False, rstrip=False):
        return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
                "normalized": False, "special": special}

    def template(single):
        special = {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in single if t != "$A"}
        items = [{"Sequence": {"id": "A", "type_id": 0}} if t == "$A" else {"SpecialToken": {"id": t, "type_id": 0}} for t in single]
        return {"type": "TemplateProcessing", "single": items, "pair": items + [{"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": special}

    replace_space = {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}
    llama_decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SPACE}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    base = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True),
                         added(n, "<|user|>", True, rstrip=True), added(n + 1, "<|end|>", True, lstrip=True),
                         added(n + 2, "<sep>", False)],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE}, replace_space]},
        "pre_tokenizer": None,
        "post_processor": template(["<s>", "$A"]),
        "decoder": llama_decoder,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    variants = {
        "legacy": {},
        "metaspace_first": {"normalizer": None, "post_processor": template(["<s>", "$A", "</s>"]),
                            "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": False}},
        "metaspace_always_split": {"normalizer": None, "post_processor": None, "ignore_merges": True,
                                   "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": True},
                                   "decoder": {"type": "Sequence", "decoders": [
                                       {"type": "ByteFallback"},
                                       {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": True}]}},
    }
    return base, variants


def variant(base, changes):
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "ignore_merges":
            out["model"]["ignore_merges"] = value
        else:
            out[key] = value
    return out


TEXTS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "a", "the", " the", "  the", "the ", "the  ", "the   end",
    "hello world", "Hello World", "real wise words", "a b  c   d    e", "   leading", "trailing   ", "mid \t dle",
    "line one\nline two", "tab\tsep\tvalues", "x" * 30, "ab" * 20, " " * 12 + "end",
    "caf\u00e9", "cafe\u0301", "\u00c5ngstr\u00f6m", "\u212bngstr\u00f6m", "na\u00efve", "\u65e5\u672c\u8a9e", "\u4e2d\u6587 text",
    "\U0001f44d", "\U0001f468\u200d\U0001f469\u200d\U0001f467 family", "emoji \U0001f3ac end", "\u00a0nbsp", "zero\u200bwidth",
    "\u2581", "\u2581lit", "a\u2581b", "\u2581\u2581 two", "\x00null", "\ufffd", "\ufeffbom",
    "<s>", "<s>hello", "<s> hello", "hello<s>world", "hello </s> world", "</s>", "<unk>", "<s><s>", "a<s><s>b",
    "<|user|>", "<|user|>hi", "<|user|>   hi there", "<|user|>\n\nhi", "hi<|end|>", "hi   <|end|>", "hi \n<|end|> after",
    "<|user|> hi <|end|> bye", "<sep>", "a<sep>b", " <sep> ", "a <sep> b", "<|user|><sep> x", "<|user", "end|>",
    "<s><|user|> hello<|end|>\n", "It's it's IT'S", "don't stop", "1234 5678", "$100.00", "one, two. three!",
]


def random_texts(count):
    rng = random.Random(11)
    alphabet = list("abcdehilmnorstuwy .,'\n\t") + ["\u00e9", "e\u0301", "\u4e2d", "\U0001f3ac", "<s>", "<|user|>", "<|end|>", "<sep>", "  "]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(count)]


def main():
    pieces, piece_scores = vocabulary()
    base, variants = tokenizer_json(pieces, piece_scores)
    texts = TEXTS + random_texts(80)
    cases = {}
    for name, changes in variants.items():
        tok = Tokenizer.from_str(json.dumps(variant(base, changes)))
        rows = []
        for text in texts:
            ids = tok.encode(text, add_special_tokens=False).ids
            framed = tok.encode(text, add_special_tokens=True).ids
            rows.append({"text": text, "ids": ids, "framed": framed, "decoded": tok.decode(ids, skip_special_tokens=False),
                         "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
        cases[name] = rows
    out = {"source": "Hugging Face tokenizers; see Tests/Fixtures/generate/sentencepiece_reference.py",
           "tokenizer": base, "variants": variants, "cases": cases}
    path = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures", "sentencepiece_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote {len(pieces)} pieces, {len(base['model']['merges'])} merges and {len(texts)} texts x {len(variants)} variants to {path}")


if __name__ == "__main__":
    main()
