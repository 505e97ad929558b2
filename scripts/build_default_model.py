"""Builds the built-in smart-home model shipped in the package (runtime/data/smart_home.safu).

    python scripts/build_default_model.py [--intents ../shared/data/home-assistant-intents/sentences-en]

Trained from Home Assistant's English intent templates (CC BY 4.0) with the sample inventory
(runtime/data/sample_inventory.yaml), explicit fit plus backprop polish. Smaller hashed-bigram table
than the default so the int8 export fits a 256 KB microcontroller.
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
    args = ap.parse_args(argv)

    from safu.models.intent_model import IntentConfig
    from safu.runtime.api import train

    # No general-English rows nor word aliases: they would take the int8 export past 256 KiB of flash on the Cortex-M4.
    config = IntentConfig(bigram_buckets=512, polish_epochs=args.polish, none_class=True, general_dims=0,
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
