"""Builds the built-in smart-home model shipped in the package (runtime/data/smart_home.safu).

    python scripts/build_default_model.py [--intents ../shared/data/home-assistant-intents/sentences-en]

Trained from Home Assistant's English intent templates (CC BY 4.0) with the sample inventory
(runtime/data/sample_inventory.yaml), explicit fit plus backprop polish. Narrower token rows
(cipher_bits 20: D = 60) and a smaller hashed-bigram table (128 buckets) than the defaults, no
general-English rows nor word aliases, so that the int8 C export fits a Cortex-M4 with 256 KiB of flash:
`python bench/bench_deploy.py --model OUT --targets m4` gives 236.8 KiB int8 flash, 24.4 KiB RAM
(vocabulary 949 tokens, 34 intents, 45 BIO labels). At cipher_bits 32 / 512 buckets it is 295.7 KiB,
at 16 / 256 226.6 KiB. The vocabulary holds the templates' words plus the random general-English
fillers of the wildcard lists (runtime/datasets/home_assistant.py WILDCARD_FILLERS) and sampled range
values ("21.5°").
The shipped file predates today's training (slot transitions, HA answers, closed slots): a model built
by this recipe gives 85.2% command accuracy / 1.0% false actions on the espeak-ng commands (`python
bench/bench_voice.py --model OUT --modes restricted --snr clean --jobs 1`) against the shipped one's
95.2% / 1.0%, so it is not shipped until that floor holds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intents", type=Path,
                    default=ROOT.parent / "shared" / "data" / "home-assistant-intents" / "sentences-en")
    ap.add_argument("--output", type=Path, default=ROOT / "runtime" / "data" / "smart_home.safu")
    ap.add_argument("--polish", type=int, default=10)
    ap.add_argument("--cipher-bits", type=int, default=20, help="bits of the token cipher (D = 3 x bits)")
    ap.add_argument("--bigram-buckets", type=int, default=128, help="hashed bigram features of the intent layer")
    ap.add_argument("--slot-radius", type=int, default=2, help="tokens each side in the slot window")
    args = ap.parse_args(argv)

    from safu.models.intent_model import IntentConfig
    from safu.runtime.api import train

    # No general-English rows nor word aliases: they would take the int8 export past 256 KiB of flash on the Cortex-M4.
    config = IntentConfig(bigram_buckets=args.bigram_buckets, cipher_bits=args.cipher_bits,
                          slot_radius=args.slot_radius, polish_epochs=args.polish, none_class=True, general_dims=0,
                          alias_cosine=0.0)
    model = train([args.intents], output=args.output, config=config, progress=lambda s: print("..", s))
    for line in model.stats.get("report", []):
        print(line)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.1f} KiB): {model.stats['examples']} examples, "
          f"{len(model.intents)} intents, vocabulary {len(model.vocab)}, threshold {model.threshold:.3f}, "
          f"{model.stats['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
