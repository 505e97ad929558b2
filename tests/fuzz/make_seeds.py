"""Writes the fuzzer's seed inputs into tests/fuzz_corpus/ (valid tiny intent/lm files, each with
a leading mode byte: odd = recompute CRCs). Rerun after a format change:

    python tests/fuzz/make_seeds.py
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cpp_model_fixtures import random_intent_tensors, random_lm_tensors  # noqa: E402
from safu.export.model_file import encode_model  # noqa: E402


def main() -> None:
    out = HERE.parent / "fuzz_corpus"
    out.mkdir(exist_ok=True)
    intent = encode_model(*random_intent_tensors(0, dim=2, max_tokens=4, radius=1, bigram_buckets=4, n_words=3))
    lm = encode_model(*random_lm_tensors(0, block_size=2, radius=1, doc_groups=1, Db=2, Dr=2, Cb=2, Cr=2))
    for name, blob in (("seed-intent", intent), ("seed-lm", lm)):
        (out / name).write_bytes(b"\x01" + blob)
    print(f"wrote seeds to {out}")


if __name__ == "__main__":
    main()
