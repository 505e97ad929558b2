"""bench/make_garbage_words.py: regenerate device/garbage_words.txt, the recogniser's out-of-vocabulary words.

    python bench/make_garbage_words.py [--shared ../shared] [--count 400]

Takes the most frequent words of the SNIPS training utterances (weather, music, restaurants, books,
films: everyday requests that are not home-automation commands, CC0) that the PocketSphinx dictionary
can pronounce. Generated once and committed; nothing reads shared/ at run time.
"""
import argparse
import collections
import glob
import json
import os
import re

import pocketsphinx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("SAFU_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared")))
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "device", "garbage_words.txt"))
    args = ap.parse_args()
    dict_path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    known = {line.split()[0] for line in open(dict_path, encoding="utf-8") if line.strip()}
    counts = collections.Counter()
    for path in sorted(glob.glob(os.path.join(args.shared, "data", "snips", "*", "train_*_full.json"))):
        data = json.loads(open(path, "rb").read().decode("latin-1"))  # PlayMusic is latin-1
        for examples in data.values():
            for ex in examples:
                text = "".join(chunk["text"] for chunk in ex["data"]).lower()
                counts.update(w for w in re.findall(r"[a-z]+(?:'[a-z]+)?", text) if w in known and len(w) > 1)
    words = [w for w, _ in counts.most_common(args.count)]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("# Out-of-vocabulary words for the restricted recogniser (bench/make_garbage_words.py).\n")
        f.write("\n".join(words) + "\n")
    print(f"wrote {len(words)} words to {args.out}")


if __name__ == "__main__":
    main()
