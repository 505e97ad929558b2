"""Side-by-side benchmarks of the C++ core (one run, one thread, printed as tables).

    safu bench [--model M.safu] [--format md|json]      # or: python bench/bench_core.py

1. Intent latency per utterance: the public API `safu.load(p).predict(text)`, the C++ core (timed
   inside C++, and through the Python binding), the numpy reference, onnxruntime on the ONNX export
   (when safu.export.onnx_export exists); and the time `safu.load(p)` takes.
   With --snips DIR / --clinc150 DIR: the same calls on a model trained (`safu train`'s defaults) on
   that data set, over its test sentences, beside fastText's Python `model.predict` on a fastText
   model trained on the same sentences (when the `fasttext` module is installed), with both load times.
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


def load_ms(load, path, repeats: int = 7) -> float:
    """Milliseconds of load(path), the best of `repeats` (the first one too: nothing is cached between loads)."""
    return _best_of(lambda: load(path), repeats, 1) * 1e3


CHUNK = 8   # sentences per timed run in side_by_side


def side_by_side(calls: dict, texts: list[str], repeats: int = 7) -> dict:
    """us per utterance of each call (name -> fn(list of texts) -> seconds taken), timed in turn on
    the same chunks of CHUNK sentences: each chunk's best of `repeats` rounds, summed over the chunks.
    Short interleaved runs keep what another process does on the machine out of the ratios."""
    total = dict.fromkeys(calls, 0.0)
    for k in range(0, len(texts), CHUNK):
        chunk = texts[k:k + CHUNK]
        best = dict.fromkeys(calls, float("inf"))
        for _ in range(repeats):
            for name, fn in calls.items():
                best[name] = min(best[name], fn(chunk))
        for name in calls:
            total[name] += best[name]
    return {name: seconds / len(texts) * 1e6 for name, seconds in total.items()}


def timed(fn):
    """A side_by_side call: fn(text) for each text of the chunk, timed with perf_counter."""
    def run(chunk):
        t0 = time.perf_counter()
        for t in chunk:
            fn(t)
        return time.perf_counter() - t0
    return run


def api_core_calls(model_path: Path, texts: list[str]) -> dict:
    """side_by_side calls of the public API, the binding and the core itself (timed inside C++)."""
    import safu

    model = safu.load(model_path)
    core = model._forward   # the binding's IntentModel the API calls
    if not hasattr(core, "bench_predict"):
        raise ValueError("safu bench needs the C++ core backend (safu._core)")
    for t in texts:   # first use fills the core's per-token tables; time the steady state
        model.predict(t)
    return {"core": lambda chunk: core.bench_predict(chunk, 1) * 1e-9 * len(chunk),
            "binding": timed(core.predict), "api": timed(model.predict)}


API_CORE_ROWS = (("core", "C++ core", "predict(text), timed in C++"),
                 ("binding", "C++ core via Python", "_core.IntentModel.predict(text)"),
                 ("api", "public API", "safu.load(p).predict(text)"))


def api_core_rows(model_path: Path, texts: list[str], repeats: int = 7) -> list[dict]:
    """The public API, the binding and the core itself on `texts`: rows of us per utterance."""
    us = side_by_side(api_core_calls(model_path, texts), texts * max(1, 64 // len(texts)), repeats)
    return [{"backend": backend, "what": what, "us": us[key]} for key, backend, what in API_CORE_ROWS]


def intent_latency(model_path: Path, repeats: int = 5) -> list[dict]:
    from safu import _core
    from safu.runtime.api import load

    texts = SENTENCES
    core = _core.IntentModel(str(model_path))
    numpy_model = load(model_path, backend="numpy")
    ids = [core.encode(t).astype(np.int64) for t in texts]
    rows = api_core_rows(model_path, texts, repeats)

    def per_utt(fn):
        return _best_of(lambda: [fn(i) for i in range(len(texts))], repeats, 20) / len(texts) * 1e6

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
# 1b. public data sets: safu beside fastText

DATASET_NAMES = {"snips": "SNIPS", "clinc150": "CLINC150"}
TEST_ROWS = 1000   # test sentences timed per data set


def dataset_split(name: str, folder: Path) -> tuple[list, list[str]]:
    """(training files for `safu train`, test sentences) of a data set folder: SNIPS train_*_full ->
    validate_*; CLINC150 train.jsonl -> val.jsonl (null rows are out-of-scope sentences)."""
    from safu.runtime.datasets import load_examples, load_snips
    from safu.runtime.datasets.snips import snips_files

    if name == "snips":
        return snips_files(folder, "train"), [ex.text for ex in load_snips(folder, "validate").examples]
    train, test = folder / "train.jsonl", folder / "val.jsonl"
    for f in (train, test):
        if not f.is_file():
            raise FileNotFoundError(f"--clinc150 {folder}: no {f.name} (expected the CLINC150 folder)")
    return [train], [ex.text for ex in load_examples([test]).examples]


def fasttext_text(text: str) -> str:
    """fastText's input: lower-cased, punctuation split off (as bench/bench_intents.py trains it)."""
    import re
    return " ".join(re.findall(r"\w+|[^\w\s]", text.lower()))


def _train_fasttext(train_files: list, out: str) -> None:
    """fastText supervised on the same sentences as safu (plus the shipped out-of-scope ones as the
    class <oos>), bench/bench_intents.py's settings; run in a fresh process (fastText's training hit
    NaN inside a long-running one)."""
    import fasttext

    from safu.runtime.api import out_of_scope_sentences
    from safu.runtime.datasets import load_examples

    rows = [(ex.text, ex.intent or "<oos>") for ex in load_examples(train_files).examples]
    rows += [(t, "<oos>") for t in out_of_scope_sentences()]
    data = out + ".txt"
    with open(data, "w", encoding="utf-8") as f:
        f.writelines(f"__label__{label} {fasttext_text(text)}\n" for text, label in rows)
    model = fasttext.train_supervised(data, lr=0.5, epoch=25, wordNgrams=2, bucket=200_000, dim=50,
                                      thread=1, seed=0, verbose=0)
    model.save_model(out + ".part")
    os.replace(out + ".part", out)
    os.remove(data)


def dataset_latency(name: str, folder: Path, cache: Path, log=print, repeats: int = 7) -> dict:
    """safu's three calls and fastText's predict on the data set's test sentences, and both load times.
    Models are trained into `cache` unless there already."""
    import multiprocessing

    from safu.runtime.api import load, train

    folder = Path(folder)
    train_files, test = dataset_split(name, folder)
    texts = test[:TEST_ROWS]
    safu_path = cache / f"{name}.safu"
    if not safu_path.exists():
        log(f"training safu on {DATASET_NAMES[name]} ({folder}) into {safu_path}")
        train(train_files, output=safu_path)
    calls = api_core_calls(safu_path, texts)
    loads = [{"model": f"safu ({DATASET_NAMES[name]})", "call": "safu.load(p)", "ms": load_ms(load, safu_path),
              "file_kib": safu_path.stat().st_size / 1024}]
    try:
        import fasttext
    except ImportError:
        fasttext = None
    else:
        ft_path = cache / f"{name}.fasttext.bin"
        if not ft_path.exists():
            log(f"training fastText on {DATASET_NAMES[name]} into {ft_path}")
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                pool.apply(_train_fasttext, (train_files, str(ft_path)))
        ft = fasttext.load_model(str(ft_path))
        prepared = {t: fasttext_text(t) for t in texts}
        calls["fasttext"] = timed(lambda t: ft.predict(prepared[t]))
    us = side_by_side(calls, texts, repeats)
    rows = [{"backend": backend, "what": what, "us": us[key]} for key, backend, what in API_CORE_ROWS]
    if fasttext is None:
        rows.append({"backend": "fastText", "what": "not installed (pip install fasttext-numpy2)", "us": None})
    else:
        rows.append({"backend": "fastText", "what": "model.predict(text), text lower-cased and split beforehand",
                     "us": us["fasttext"]})
        loads.append({"model": f"fastText ({DATASET_NAMES[name]})", "call": "fasttext.load_model(p)",
                      "ms": load_ms(lambda p: fasttext.load_model(str(p)), ft_path),
                      "file_kib": ft_path.stat().st_size / 1024})
    core_us = rows[0]["us"]
    fasttext_us = rows[-1]["us"] if rows[-1]["backend"] == "fastText" else None
    for r in rows:
        r["x_core"] = None if r["us"] is None else r["us"] / core_us
        r["x_fasttext"] = None if r["us"] is None or fasttext_us is None else r["us"] / fasttext_us
    return {"name": DATASET_NAMES[name], "folder": str(folder), "test_sentences": len(texts),
            "intent": rows, "load": loads}


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
    if result.get("load"):
        lines += ["", "| model | load | ms | file KiB |", "|---|---|---:|---:|"]
    for r in result.get("load", []):
        lines.append(f"| {r['model']} | {r['call']} | {_fmt(r['ms'], 1)} | {_fmt(r['file_kib'], 0)} |")
    for d in result.get("datasets", []):
        lines += ["", f"{d['name']} ({d['test_sentences']} test sentences, one at a time; model trained with "
                  "`safu train`'s defaults):", "",
                  "| backend | call | us / utterance | x C++ core | x fastText |", "|---|---|---:|---:|---:|"]
        for r in d["intent"]:
            lines.append(f"| {r['backend']} | {r['what']} | {_fmt(r['us'], 2)} | {_fmt(r['x_core'], 2)} | "
                         f"{_fmt(r['x_fasttext'], 2)} |")
        lines += ["", "| model | load | ms | file KiB |", "|---|---|---:|---:|"]
        for r in d["load"]:
            lines.append(f"| {r['model']} | {r['call']} | {_fmt(r['ms'], 1)} | {_fmt(r['file_kib'], 0)} |")
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


def run(model: str | None = None, stream: bool = True, mem: bool = True, log=print,
        datasets: dict | None = None, cache: str | None = None) -> dict:
    """datasets: {"snips" | "clinc150": folder}; cache: where their trained models are kept (None: a
    temporary folder, so they are trained afresh)."""
    with single_thread():
        if cache is None:
            with tempfile.TemporaryDirectory(prefix="safu-bench-") as tmp:
                return _run(model, stream, mem, log, datasets or {}, Path(tmp))
        Path(cache).mkdir(parents=True, exist_ok=True)
        return _run(model, stream, mem, log, datasets or {}, Path(cache))


def _run(model, stream, mem, log, datasets: dict, cache: Path) -> dict:
    from safu import _core
    from safu.runtime.api import load

    path = find_smart_home_model(model, log)
    core = _core.IntentModel(str(path))
    result = {"model": str(path), "vocab": core.vocab_size, "intents": len(core.intents),
              "slot_labels": len(core.slot_labels), "dim": core.dim, "intent": intent_latency(path),
              "load": [{"model": path.name, "call": "safu.load(p)", "ms": load_ms(load, path),
                        "file_kib": path.stat().st_size / 1024}]}
    result["datasets"] = [dataset_latency(name, Path(folder), cache, log) for name, folder in datasets.items()]
    if stream:
        lm_path = bench_lm_file(Path(tempfile.mkdtemp(prefix="safu-bench-")) / "lm.safu")
        result["lm_vocab"] = _core.LmModel(str(lm_path)).vocab_size
        result["stream"] = streaming(lm_path)
    if mem:
        result["memory"] = memory(path)
    return result
