"""Side-by-side benchmarks of the C++ core (one run, one thread, printed as tables).

    safu bench [--model M.safu] [--format md|json]      # or: python bench/bench_core.py

1. Intent latency per utterance: C++ core (timed inside C++, and through the Python binding),
   the numpy reference, onnxruntime on the ONNX export (when safu.export.onnx_export exists).
2. Streaming LM time per token at stream lengths 16, 128, 1024, 8192: the core's cached-comparison
   stream vs a standard causal attention baseline (numpy, KV cache: each token attends to all
   earlier ones, so time per token grows with the length).
3. Memory of a loaded smart-home model (resident-set growth of a fresh process, per backend).

Figures are printed, never asserted. Ratios are the point: they hold across machines better than
absolute numbers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "turn on the kitchen lights", "switch off the bedroom lamp", "set the living room temperature to 21 degrees",
    "what is the temperature in the garage", "open the garage door", "close the blinds in the office",
    "turn the fan off", "lock the front door", "is the back door locked", "set the brightness to 50 percent",
    "turn on all the lights in the house please", "what's the weather like", "pause the music",
    "set a timer for 5 minutes", "turn off the tv in the living room", "dim the hallway light",
]
STREAM_LENGTHS = (16, 128, 1024, 8192)
WINDOW = 16  # tokens timed at each stream length (the stream is at length M when the window ends)


def _best_of(fn, repeats: int, inner: int) -> float:
    """Seconds per call: the best of `repeats` timings of `inner` calls (least disturbed by others)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def find_smart_home_model(explicit: str | None, log=print) -> Path:
    """The model to benchmark: --model, else the built-in model, else one trained from the HA templates."""
    if explicit:
        return Path(explicit)
    from safu.runtime.api import DEFAULT_MODEL
    if DEFAULT_MODEL.exists():
        return DEFAULT_MODEL
    here = Path(__file__).resolve()
    for base in (os.environ.get("SAFU_SHARED_DATA"), here.parents[1].parent / "shared" / "data"):
        if base and (Path(base) / "home-assistant-intents").is_dir():
            out = Path(tempfile.mkdtemp(prefix="safu-bench-")) / "smart_home.safu"
            log(f"no built-in model; training one from {base}/home-assistant-intents (about a minute)")
            from safu.runtime.api import train
            train([Path(base) / "home-assistant-intents"], output=out)
            return out
    raise FileNotFoundError("no model to benchmark: pass --model M.safu")


# ---------------------------------------------------------------------------------------------
# 1. intent latency


def intent_latency(model_path: Path, repeats: int = 5) -> list[dict]:
    from safu import _core
    from safu.runtime.api import load

    texts = SENTENCES
    core = _core.IntentModel(str(model_path))
    numpy_model = load(model_path, backend="numpy")
    ids = [core.encode(t).astype(np.int64) for t in texts]
    rows = []

    def per_utt(fn):
        return _best_of(lambda: [fn(i) for i in range(len(texts))], repeats, 20) / len(texts) * 1e6

    core_ns = min(core.bench_predict(texts, 20) for _ in range(20 * repeats))  # many short runs, best one
    rows.append({"backend": "C++ core", "what": "predict(text), timed in C++", "us": core_ns / 1e3})
    rows.append({"backend": "C++ core via Python", "what": "predict(text)", "us": per_utt(lambda i: core.predict(texts[i]))})
    rows.append({"backend": "C++ core via Python", "what": "forward(ids)", "us": per_utt(lambda i: core.forward(ids[i]))})
    ref = numpy_model._forward
    rows.append({"backend": "numpy reference", "what": "forward(ids)",
                 "us": _best_of(lambda: [ref.forward(x) for x in ids], 2, 2) / len(texts) * 1e6})
    rows.append({"backend": "numpy reference", "what": "predict(text)",
                 "us": _best_of(lambda: [numpy_model.predict(t) for t in texts], 2, 2) / len(texts) * 1e6})
    try:
        from safu.export.onnx_export import export_onnx
        import onnxruntime as ort
    except ImportError as exc:
        rows.append({"backend": "onnxruntime", "what": f"not available ({exc.name} missing)", "us": None})
    else:
        onnx_path = Path(tempfile.mkdtemp(prefix="safu-bench-")) / "model.onnx"
        export_onnx(model_path, onnx_path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        rows.append({"backend": "onnxruntime (1 thread)", "what": "run(ids)",
                     "us": per_utt(lambda i: sess.run(None, {"ids": ids[i]}))})
        p_ort = sess.run(None, {"ids": ids[0]})[0]
        p_core = core.forward(ids[0])[0]
        rows[-1]["max_abs_diff_vs_core"] = float(np.abs(p_ort - p_core).max())
    base = rows[0]["us"]
    for r in rows:
        r["x_core"] = None if r["us"] is None else r["us"] / base
    return rows


# ---------------------------------------------------------------------------------------------
# 2. streaming


def bench_lm_file(path: Path, N=4096, b=32, r=4, Db=64, Dr=32, Cb=64, Cr=32) -> Path:
    """A kind-lm file of realistic size with random weights (cost does not depend on the values)."""
    from safu.export.model_file import write_model_file
    from safu.models.tokenizer import SPECIALS

    rng = np.random.default_rng(0)

    def table(D):
        t = rng.random((N, D)).astype(np.float32) + 0.01
        return (t / t.sum(1, keepdims=True)).astype(np.float32)

    vocab = SPECIALS + [f"w{i}" for i in range(N - len(SPECIALS))]
    f32 = np.float32
    tensors = {"block.table": table(Db), "block.W": rng.normal(0, 1, (b, b)).astype(f32),
               "block.U": rng.normal(0, 1, (Db, Cb)).astype(f32), "radial.table": table(Dr),
               "radial.W": rng.normal(0, 1, (r, r)).astype(f32), "radial.U": rng.normal(0, 1, (r * Dr, Cr)).astype(f32),
               "final.U": rng.normal(0, 1, (Cb + Cr, N)).astype(f32), "final.b": np.zeros(N, f32)}
    meta = {"general.kind": "lm", "tokenizer.vocab": vocab, "tokenizer.max_tokens": 0, "lm.block_size": b,
            "lm.radius": r, "lm.doc_groups": 0, "lm.block_mode": "sum", "lm.radial_mode": "cat",
            "cipher.block_bits": Db, "cipher.radial_bits": Dr}
    write_model_file(path, meta, tensors)
    return path


class AttentionBaseline:
    """Standard single-head causal attention over the whole stream with a KV cache (numpy):
    per token O(M*D) for M earlier tokens, then the same size output layer as the LM (D x N)."""

    def __init__(self, N=4096, D=64, capacity=8192 + 64, seed=0):
        rng = np.random.default_rng(seed)
        self.E = rng.normal(0, 1, (N, D)).astype(np.float32)
        self.Wq, self.Wk, self.Wv = (rng.normal(0, D ** -0.5, (D, D)).astype(np.float32) for _ in range(3))
        self.Wo = rng.normal(0, 1, (D, N)).astype(np.float32)
        self.K = np.zeros((capacity, D), np.float32)
        self.V = np.zeros((capacity, D), np.float32)
        self.m = 0

    def feed(self, t: int) -> np.ndarray:
        x = self.E[t]
        self.K[self.m], self.V[self.m] = x @ self.Wk, x @ self.Wv
        self.m += 1
        s = self.K[:self.m] @ (x @ self.Wq)
        w = np.exp(s - s.max())
        h = (w / w.sum()) @ self.V[:self.m]
        z = h @ self.Wo
        return z - z.max() - np.log(np.exp(z - z.max()).sum())


def streaming(lm_path: Path, lengths=STREAM_LENGTHS, repeats: int = 7) -> list[dict]:
    from safu import _core

    lm = _core.LmModel(str(lm_path))
    rng = np.random.default_rng(1)
    ids = rng.integers(6, lm.vocab_size, max(lengths) + WINDOW).astype(np.int64)
    rows = []
    for M in lengths:
        start = M - WINDOW
        best_core = float("inf")
        for _ in range(repeats):
            s2 = lm.stream()
            s2.feed_many(ids[:start])  # same state again, untimed
            t0 = time.perf_counter()
            s2.score(ids[start:M])  # logprobs + feed for each of the WINDOW tokens, in C++
            best_core = min(best_core, (time.perf_counter() - t0) / WINDOW)
        base = AttentionBaseline(N=lm.vocab_size)
        for t in ids[:start]:
            base.K[base.m] = base.E[t] @ base.Wk  # fill the cache without timing it
            base.V[base.m] = base.E[t] @ base.Wv
            base.m += 1
        best_base = float("inf")
        for _ in range(repeats):
            base.m = start
            t0 = time.perf_counter()
            for t in ids[start:M]:
                base.feed(int(t))
            best_base = min(best_base, (time.perf_counter() - t0) / WINDOW)
        rows.append({"length": M, "core_us": best_core * 1e6, "attention_us": best_base * 1e6})
    for r in rows:
        r["core_vs_16"] = r["core_us"] / rows[0]["core_us"]
        r["attention_vs_16"] = r["attention_us"] / rows[0]["attention_us"]
    return rows


# ---------------------------------------------------------------------------------------------
# 3. memory

_MEMORY_PROBE = r"""
import json, os, sys
import numpy as np
from safu import _core
import safu.runtime.api as api
def rss_kib():  # current resident set size (Linux)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
path, backend = sys.argv[1], sys.argv[2]
if backend == "onnx":
    import onnxruntime as ort
before = rss_kib()
if backend == "core":
    m = _core.IntentModel(path); m.predict("turn on the kitchen lights"); extra = m.memory_bytes
elif backend == "numpy":
    m = api.load(path, backend="numpy"); m.predict("turn on the kitchen lights"); extra = None
else:
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    m = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]); extra = None
    m.run(None, {"ids": np.array([6, 7], np.int64)})
after = rss_kib()
print(json.dumps({"rss_growth_kib": after - before, "tables_bytes": extra}))
"""


def memory(model_path: Path) -> list[dict]:
    rows = []
    targets = [("C++ core", str(model_path), "core"), ("numpy reference", str(model_path), "numpy")]
    try:
        from safu.export.onnx_export import export_onnx
        onnx_path = Path(tempfile.mkdtemp(prefix="safu-bench-")) / "model.onnx"
        export_onnx(model_path, onnx_path)
        targets.append(("onnxruntime", str(onnx_path), "onnx"))
    except ImportError:
        pass
    for name, path, backend in targets:
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, path, backend], capture_output=True, text=True)
        if out.returncode != 0:
            rows.append({"backend": name, "error": out.stderr.strip().splitlines()[-1]})
            continue
        rows.append({"backend": name, **json.loads(out.stdout)})
    rows.append({"backend": "model file", "rss_growth_kib": None, "tables_bytes": None,
                 "file_bytes": model_path.stat().st_size})
    return rows


# ---------------------------------------------------------------------------------------------
# printing


def _fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def markdown(result: dict) -> str:
    lines = [f"Model: {result['model']} (vocabulary {result['vocab']}, {result['intents']} intents, "
             f"{result['slot_labels']} slot labels, D={result['dim']}); one thread.", "",
             "| backend | call | us / utterance | x C++ core |", "|---|---|---:|---:|"]
    for r in result["intent"]:
        lines.append(f"| {r['backend']} | {r['what']} | {_fmt(r['us'], 2)} | {_fmt(r['x_core'], 1)} |")
    if "stream" in result:
        lines += ["", f"Streaming LM (N={result['lm_vocab']}, b=32, r=4), time per token at a stream length:", "",
                  "| stream length | C++ core us/token | vs length 16 | causal attention (numpy, KV cache) us/token | vs length 16 |",
                  "|---:|---:|---:|---:|---:|"]
        for r in result["stream"]:
            lines.append(f"| {r['length']} | {_fmt(r['core_us'], 1)} | {_fmt(r['core_vs_16'], 2)} | "
                         f"{_fmt(r['attention_us'], 1)} | {_fmt(r['attention_vs_16'], 2)} |")
    if "memory" in result:
        lines += ["", "Memory of the loaded smart-home model (fresh process; resident memory added by loading it "
                  "and running one prediction):", "", "| backend | RSS growth KiB | core tables KiB |", "|---|---:|---:|"]
        for r in result["memory"]:
            if "file_bytes" in r:
                lines.append(f"| (model file on disk) | {r['file_bytes'] / 1024:,.0f} | |")
            elif "error" in r:
                lines.append(f"| {r['backend']} | error: {r['error']} | |")
            else:
                tb = r.get("tables_bytes")
                lines.append(f"| {r['backend']} | {r['rss_growth_kib']:,} | {'' if tb is None else f'{tb / 1024:,.0f}'} |")
    return "\n".join(lines)


def single_thread():
    """numpy's BLAS on one thread, like the core and the onnxruntime session (threadpoolctl if present)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(1)


def run(model: str | None = None, stream: bool = True, mem: bool = True, log=print) -> dict:
    with single_thread():
        return _run(model, stream, mem, log)


def _run(model, stream, mem, log) -> dict:
    from safu import _core

    path = find_smart_home_model(model, log)
    core = _core.IntentModel(str(path))
    result = {"model": str(path), "vocab": core.vocab_size, "intents": len(core.intents),
              "slot_labels": len(core.slot_labels), "dim": core.dim, "intent": intent_latency(path)}
    if stream:
        lm_path = bench_lm_file(Path(tempfile.mkdtemp(prefix="safu-bench-")) / "lm.safu")
        result["lm_vocab"] = _core.LmModel(str(lm_path)).vocab_size
        result["stream"] = streaming(lm_path)
    if mem:
        result["memory"] = memory(path)
    return result
