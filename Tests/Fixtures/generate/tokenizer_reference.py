"""Writes Tests/TokenizersTests/Fixtures/tokenizer_reference.json: token ids from Hugging Face `tokenizers`
(the Rust library transformers uses) for texts beyond the golden cases, so Scalpel's tokenizers are
checked on rules, not on a fixed list.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers gguf numpy
    /tmp/v/bin/python Tests/Fixtures/generate/tokenizer_reference.py

SmolLM2's tokenizer is rebuilt from its GGUF exactly as its tokenizer.json declares it (BPE over the GGUF
vocabulary and merges; pre-tokenizer Sequence[Digits(individual_digits), ByteLevel(no prefix space)];
control tokens as special added tokens). The rebuild is first checked against every golden case of
../shared/golden/smollm2-135m; the script stops if any differs. MiniLM uses its own tokenizer.json.
"""
import json
import os
import random
import sys

from gguf import GGUFReader
from tokenizers import Tokenizer, AddedToken, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GOLDEN = os.path.join(os.path.dirname(ROOT), "shared", "golden")


def field(reader, key):
    f = reader.fields[key]
    if len(f.data) == 1 and f.types[0].name != "ARRAY":
        part = f.parts[f.data[0]]
        return bytes(part).decode("utf-8") if f.types[0].name == "STRING" else part[0]
    return [bytes(f.parts[i]).decode("utf-8") if f.types[-1].name == "STRING" else int(f.parts[i][0]) for i in f.data]


def smollm2():
    reader = GGUFReader(os.path.join(ROOT, "checkpoints", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = field(reader, "tokenizer.ggml.merges")
    types = field(reader, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges], fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t in (3, 4)])
    return tok


def minilm():
    tok = Tokenizer.from_file(os.path.join(ROOT, "checkpoints", "all-MiniLM-L6-v2", "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


TEXTS = [
    "", " ", "  ", "\n", "\n\n\n", "\t\t", " \n ", "a", "A", "'", "''", "'s", "'S", "I'M HERE", "we'll they're you've I'd",
    "don't", "DON'T", "hello\u00a0world", "hello\u2003world", "x\u3000y", "  two leading", "two trailing  ", "mid  \t  dle",
    "12", "123456789012345", "1,234.56", "-42", "3rd 21st", "٣٤٥ Arabic-Indic", "Ⅻ roman", "½ half", "²³ super",
    "café", "CAFÉ", "Crème Brûlée", "São Paulo", "naïve résumé", "Zürich Straße", "İstanbul", "ǅ titlecase",
    "日本語のテキスト", "한국어 텍스트", "中文，标点。", "مرحبا بالعالم", "שלום עולם", "Привет, мир!", "Γειά σου Κόσμε",
    "👍", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "e\u0301 combining", "a\u200bzero width", "tab\tseparated\tvalues",
    "<|im_start|>", "<|im_start|><|im_end|>", "x<|im_start|>y", "<|im_start|>system\nYou are<|im_end|>\n",
    "<|endoftext|>The end", "[CLS] [SEP] [MASK]", "hello[MASK]world", "<<|im_start|>>", "<|im_start", "im_start|>",
    "http://example.com/path?q=1&r=2", "user@example.com", "C++ and C#", "f(x) = x^2 + 2*x", "$100.00 (€85)",
    "...", "?!?!", "---", "***bold***", "snake_case_name", "camelCaseName", "ALL_CAPS_CONST", "kebab-case-name",
    "x" * 100, "ab" * 60, " " * 40 + "end", "a " * 30, "\u0000null\u0001ctrl", "\ufffdreplacement", "\ufeffBOM",
    "The film's pacing drags, but the performances—especially the lead's—are superb.",
    "It's not that it's bad... it's just *boring*.", "10/10 would watch again!!!", "A+ movie; B- plot.",
]


def corpus_lines(count):
    path = os.path.join(ROOT, "data", "polarity", "polarity-en-pang&lee2.csv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8-sig") as f:
        lines = [line.rstrip("\n") for line in f]
    random.Random(5).shuffle(lines)
    return lines[:count]


def random_texts(count):
    rng = random.Random(7)
    alphabet = list("abcXYZ019 '\n\t.,!?-_") + ["é", "ß", "中", "ي", "🎬", "\u0301", "\u00a0", "Ⅻ", "٣", "<|im_end|>", "[SEP]"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def main():
    bpe = smollm2()
    golden = json.load(open(os.path.join(GOLDEN, "smollm2-135m", "manifest.json")))["meta"]["tokenizer_cases"]
    for case in golden:
        got = bpe.encode(case["text"], add_special_tokens=False).ids
        if got != case["ids"]:
            sys.exit(f"rebuilt SmolLM2 tokenizer disagrees with the golden case {case['text']!r}: {got} vs {case['ids']}")
    wordpiece = minilm()
    golden = json.load(open(os.path.join(GOLDEN, "all-minilm-l6-v2", "manifest.json")))["meta"]["tokenizer_cases"]
    for case in golden:
        got = wordpiece.encode(case["text"]).ids
        if got != case["ids"]:
            sys.exit(f"MiniLM tokenizer disagrees with the golden case {case['text']!r}: {got} vs {case['ids']}")

    texts = TEXTS + corpus_lines(150) + random_texts(150)
    out = {
        "source": "Hugging Face tokenizers; see Tests/Fixtures/generate/tokenizer_reference.py",
        "smollm2": [{"text": t, "ids": bpe.encode(t, add_special_tokens=False).ids} for t in texts],
        "minilm": [{"text": t, "ids": wordpiece.encode(t).ids, "decoded": wordpiece.decode(wordpiece.encode(t).ids)} for t in texts],
    }
    path = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures", "tokenizer_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(texts)} texts to {path}")


if __name__ == "__main__":
    main()
