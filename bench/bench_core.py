"""Benchmarks of the C++ core (same as `safu bench`): intent latency core vs numpy vs onnxruntime,
streaming LM time per token vs a causal attention baseline, memory of a loaded model.

    python bench/bench_core.py [--model home.safu] [--format md|json]
"""
import sys

from safu.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
