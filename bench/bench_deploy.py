"""Deployment footprint of an intent model on emulated boards, float32 vs int8, side by side.

    python bench/bench_deploy.py                         # built-in smart-home model, M4F/M7/M3
    python bench/bench_deploy.py --model home.safu --linux --eval /path/to/intents --format json

For each weight type it exports the C project, builds it for the host and each board, and prints:
flash (text + data) and static RAM (data + bss) from arm-none-eabi-size; instructions executed per
utterance under QEMU (whole program running the first --runs utterances, minus the same program
running none, divided by --runs; counted from QEMU's block log, see safu.export.c_build); whether
the board printed exactly the host's bytes (every probability as float bits); the host C vs the
numpy reference (max |diff|, argmax agreement); the int8 model's agreement with float32 and, with
--eval, accuracy of both on labelled data. Also the bytes each tensor takes, to see what dominates.
Target budget for the smart-home model: <= 256 KiB flash, <= 64 KiB RAM.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from safu.export import c_build
from safu.export.c_export import export_c
from safu.export.intent_tensors import IntentTensors, load_intent_tensors
from safu.export.model_file import write_model_file

FLASH_BUDGET_KB, RAM_BUDGET_KB = 256, 64
STACK_KB = 8   # reserved by the linker script (SAFU_STACK_KB); counted in the RAM figure below


def hex_floats(s: str) -> np.ndarray:
    return np.array([struct.unpack("<I", bytes.fromhex(h)[::-1])[0] for h in s.split()],
                    dtype=np.uint32).view(np.float32)


def tensor_bytes(spec: IntentTensors) -> dict[str, int]:
    out = {name: int(t.nbytes) for name, t in spec.tensors.items()}
    out["vocabulary (sorted text + offsets + ids)"] = sum(len(v.encode()) + 1 for v in spec.vocab) + 6 * spec.n_vocab
    return out


def reference_agreement(model_path: Path, host_out: str) -> dict:
    """Host C output vs the numpy reference on the same model file."""
    from safu.export.model_file import read_model_file
    from safu.models.reference import IntentReference
    from safu.models.tokenizer import Vocabulary

    mf = read_model_file(model_path)
    ref, vocab = IntentReference(mf), Vocabulary.from_metadata(mf.metadata)
    worst, same_intent, same_slots, n = 0.0, 0, 0, 0
    for line in host_out.splitlines()[:-1]:
        r = json.loads(line)
        ids, _ = vocab.encode(r["text"], int(mf.metadata["tokenizer.max_tokens"]))
        p_i, p_s = ref.forward(ids)
        c_i, c_s = hex_floats(r["p_intent"]), hex_floats(r["p_slot"]).reshape(p_s.shape)
        worst = max(worst, float(np.abs(c_i - p_i).max()), float(np.abs(c_s - p_s).max()) if p_s.size else 0.0)
        same_intent += int(c_i.argmax() == p_i.argmax())
        same_slots += int(p_s.size == 0 or (c_s.argmax(1) == p_s.argmax(1)).all())
        n += 1
    return {"max_abs_diff": worst, "same_intent": same_intent, "same_slot_labels": same_slots, "n": n}


def onnx_agreement(model_path: Path, out: Path, sentences: list[str]) -> dict:
    """ONNX export run by onnxruntime vs the numpy reference on the same model file."""
    import onnxruntime as ort

    from safu.export.model_file import read_model_file
    from safu.export.onnx_export import export_onnx
    from safu.models.reference import IntentReference
    from safu.models.tokenizer import Vocabulary

    export_onnx(model_path, out)
    mf = read_model_file(model_path)
    ref, vocab = IntentReference(mf), Vocabulary.from_metadata(mf.metadata)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    worst, same = 0.0, 0
    for s in sentences:
        ids, _ = vocab.encode(s, int(mf.metadata["tokenizer.max_tokens"]))
        p_i, p_s = ref.forward(ids)
        o_i, o_s = sess.run(None, {"ids": ids})
        worst = max(worst, float(np.abs(o_i - p_i).max()), float(np.abs(o_s - p_s).max()) if p_s.size else 0.0)
        same += int(o_i.argmax() == p_i.argmax() and (p_s.size == 0 or (o_s.argmax(1) == p_s.argmax(1)).all()))
    return {"n": len(sentences), "max_abs_diff": worst, "same_argmax": same, "bytes": out.stat().st_size}


def int8_agreement(float_path: Path, int8_path: Path, sentences: list[str]) -> dict:
    """Decisions of the int8 model vs the float32 model (numpy backend) on the given sentences."""
    from safu.runtime.api import load

    a, b = load(float_path, backend="numpy"), load(int8_path, backend="numpy")
    same_intent = same_slots = 0
    max_conf = 0.0
    for s in sentences:
        pa, pb = a.predict(s), b.predict(s)
        same_intent += int(pa.intent == pb.intent)
        same_slots += int(pa.slots == pb.slots)
        max_conf = max(max_conf, abs(pa.confidence - pb.confidence))
    n = max(1, len(sentences))
    return {"n": len(sentences), "same_intent": same_intent / n, "same_slots": same_slots / n,
            "max_confidence_change": max_conf}


def eval_accuracy(paths: list[str], model_paths: dict[str, Path], limit: int) -> dict:
    from safu.runtime.api import load
    from safu.runtime.datasets import load_examples
    from safu.runtime.evaluate import evaluate

    examples = load_examples(paths).examples
    rng = np.random.default_rng(1)
    if len(examples) > limit:
        examples = [examples[i] for i in sorted(rng.choice(len(examples), limit, replace=False))]
    return {k: evaluate(load(p, backend="numpy"), examples) for k, p in model_paths.items()}


def bench_variant(label: str, model_path: Path, work: Path, targets: list[str], runs: int, linux: bool) -> dict:
    proj = work / f"c-{label}"
    export_c(model_path, proj)
    host_build = c_build.build(proj, work / f"build-{label}-host", "host")
    host_out = c_build.run_program(host_build, "host")
    (work / f"host-{label}.txt").write_text(host_out)
    row = {"variant": label, "reference": reference_agreement(model_path, host_out), "targets": {}}
    big = ["-DSAFU_FLASH_KB=4096", "-DSAFU_RAM_KB=4096"]   # measure even when over budget
    for t in targets + (["aarch64", "armhf"] if linux else []):
        missing = c_build.missing_tools(t)
        if missing:
            row["targets"][t] = {"skipped": f"missing {', '.join(missing)}"}
            continue
        bare = c_build.TARGETS[t].bare_metal
        b = c_build.build(proj, work / f"build-{label}-{t}", t, expected_output=work / f"host-{label}.txt",
                          bench_targets=bare, extra=(big + [f"-DSAFU_BENCH_RUNS={runs}"]) if bare else None)
        t0 = time.perf_counter()
        try:
            c_build.ctest(b)
            identical = (b / "safu_mcu_output.txt").read_text() == host_out
        except RuntimeError:
            identical = False
        entry = {"bit_identical_to_host": identical, "ctest_seconds": round(time.perf_counter() - t0, 2)}
        if bare:
            size = c_build.elf_size(b / "safu_mcu.elf")
            machine = c_build.TARGETS[t].qemu_machine
            n_all = c_build.count_instructions(b / "safu_mcu_bench_all.elf", machine)
            n_none = c_build.count_instructions(b / "safu_mcu_bench_none.elf", machine)
            entry.update(flash=size["flash"], ram=size["ram"] + STACK_KB * 1024, static_ram=size["ram"],
                         insns_per_utterance=(n_all - n_none) // runs)
        else:
            entry["binary_bytes"] = (b / "safu_mcu").stat().st_size
        row["targets"][t] = entry
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="example: python bench/bench_deploy.py --model home.safu --linux")
    ap.add_argument("--model", default="default", help="a .safu intent model or 'default' (built-in smart-home)")
    ap.add_argument("--targets", nargs="+", default=["m4", "m7", "m3"], choices=["m4", "m7", "m3"])
    ap.add_argument("--linux", action="store_true", help="also aarch64 and armhf Linux under qemu-user")
    ap.add_argument("--runs", type=int, default=3, help="utterances in the instruction count (default 3)")
    ap.add_argument("--eval", nargs="*", default=None, help="labelled data (files/folders) for accuracy")
    ap.add_argument("--eval-limit", type=int, default=2000)
    ap.add_argument("--format", choices=["md", "json"], default="md")
    args = ap.parse_args(argv)

    from safu.runtime.cli_export import resolve_model_path

    model_path = resolve_model_path(args.model)
    spec = load_intent_tensors(model_path)
    qspec = spec.quantized()
    result = {"model": str(model_path), "dims": {"N": spec.n_vocab, "D": spec.dim, "B": spec.bigram_buckets,
              "C": spec.n_intents, "S": spec.n_slot_labels, "max_tokens": spec.max_tokens, "K_s": spec.slot_k},
              "tensor_bytes": {"float32": tensor_bytes(spec), "int8": tensor_bytes(qspec)}, "variants": []}
    with tempfile.TemporaryDirectory(prefix="safu-bench-deploy-") as tmp:
        work = Path(tmp)
        int8_path = work / "model-int8.safu"
        write_model_file(int8_path, qspec.metadata, qspec.tensors)
        for label, path in (("float32", model_path), ("int8", int8_path)):
            print(f"[bench deploy] {label}: building and running ...", file=sys.stderr)
            result["variants"].append(bench_variant(label, path, work, args.targets, args.runs, args.linux))
        sentences = list(spec.metadata.get("train.sentences", []))[:2000]
        result["onnx"] = {label: onnx_agreement(path, work / f"{label}.onnx", sentences[:300])
                          for label, path in (("float32", model_path), ("int8", int8_path))}
        result["int8_vs_float32"] = int8_agreement(model_path, int8_path, sentences)
        if args.eval:
            rep = eval_accuracy(args.eval, {"float32": model_path, "int8": int8_path}, args.eval_limit)
            result["accuracy"] = {k: {m: v[m] for m in ("accuracy", "slot_f1", "n") if m in v} for k, v in rep.items()}
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    d = r["dims"]
    lines = [f"model `{r['model']}`: N={d['N']} D={d['D']} B={d['B']} C={d['C']} S={d['S']} "
             f"max_tokens={d['max_tokens']} K_s={d['K_s']}", "",
             "| weights | target | flash KiB | RAM KiB (static + 8 stack) | insns / utterance | board == host (bits) | host C vs numpy max abs diff | same argmax |",
             "|---|---|---|---|---|---|---|---|"]
    for v in r["variants"]:
        ref = v["reference"]
        for t, e in v["targets"].items():
            if "skipped" in e:
                lines.append(f"| {v['variant']} | {t} | skipped: {e['skipped']} | | | | | |")
                continue
            flash = f"{e['flash'] / 1024:.1f}" if "flash" in e else f"binary {e['binary_bytes'] / 1024:.1f}"
            ram = f"{e['ram'] / 1024:.1f}" if "ram" in e else ""
            ins = f"{e['insns_per_utterance']:,}" if "insns_per_utterance" in e else ""
            lines.append(f"| {v['variant']} | {t} | {flash} | {ram} | {ins} | {'yes' if e['bit_identical_to_host'] else 'NO'} "
                         f"| {ref['max_abs_diff']:.2g} | {ref['same_intent']}/{ref['n']} intents, {ref['same_slot_labels']}/{ref['n']} slot rows |")
    lines += ["", f"budget: flash <= {FLASH_BUDGET_KB} KiB, RAM <= {RAM_BUDGET_KB} KiB", "",
              "| tensor | float32 bytes | int8 bytes |", "|---|---|---|"]
    f, q = r["tensor_bytes"]["float32"], r["tensor_bytes"]["int8"]
    for name in sorted(set(f) | set(q), key=lambda k: -max(f.get(k, 0), q.get(k, 0))):
        lines.append(f"| {name} | {f.get(name, '')} | {q.get(name, '')} |")
    lines.append(f"| total | {sum(f.values())} | {sum(q.values())} |")
    for k, o in r.get("onnx", {}).items():
        lines.append(f"ONNX ({k}, {o['bytes'] / 1024:.0f} KiB) onnxruntime vs numpy reference over {o['n']} sentences: "
                     f"max abs diff {o['max_abs_diff']:.2g}, same argmax (intent and every slot row) {o['same_argmax']}/{o['n']}")
    a = r["int8_vs_float32"]
    lines += ["", f"int8 vs float32 (numpy backend, {a['n']} training sentences stored in the model): "
              f"same intent {a['same_intent']:.2%}, same slots {a['same_slots']:.2%}, "
              f"max confidence change {a['max_confidence_change']:.3g}"]
    if "accuracy" in r:
        for k, v in r["accuracy"].items():
            lines.append(f"accuracy ({k}): " + ", ".join(f"{m}={val:.4f}" if isinstance(val, float) else f"{m}={val}"
                                                         for m, val in v.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
