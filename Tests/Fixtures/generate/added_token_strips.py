#!/usr/bin/env python3
"""Reference ids for added tokens that take whitespace with them (lstrip / rstrip) in a byte-level
BPE tokenizer.json: the gpt2 family's file from ../shared/golden, with `<|im_end|>` set to lstrip and
`<|im_start|>` to rstrip, encoded by Hugging Face `tokenizers`.

    python Tests/Fixtures/generate/added_token_strips.py > Tests/TokenizersTests/Fixtures/added_token_strips.json
"""
import json, os
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
source = json.load(open(os.path.join(ROOT, "..", "shared", "golden", "families", "gpt2", "hf", "tokenizer.json")))
FLAGS = {"<|im_end|>": "lstrip", "<|im_start|>": "rstrip"}
for token in source["added_tokens"]:
    if token["content"] in FLAGS:
        token[FLAGS[token["content"]]] = True
tokenizer = Tokenizer.from_str(json.dumps(source))
texts = ["hi   <|im_end|>", "<|im_start|>  \n user", "a <|im_end|> b <|im_start|> c", "\t<|im_end|>\t<|im_start|>\t",
         "no special tokens here", "<|im_end|><|im_start|>"]
print(json.dumps({"flags": FLAGS, "cases": [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in texts]},
                 ensure_ascii=False, indent=1))
