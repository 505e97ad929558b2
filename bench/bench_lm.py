"""Language-model benchmark: SAFU variants vs a small transformer, side by side in one run.

    python bench/bench_lm.py [--data PATH] [--vocab 4096] [--backprop-seconds 90] [--quick]

tinyshakespeare split 90/10 by character position; word vocabulary from the training part. Rows:
unigram, explicit-only SAFU, explicit + tuning, warm start + backprop, cold start (random init) +
the same backprop budget, and a PyTorch transformer (benchmark only) with the same vocabulary and a
similar parameter count, trained on one core for the same time as the warm model (and for the
explicit model's time). Times are process CPU seconds with one thread (equal to wall time on an idle
machine; unlike wall time they are not inflated when other jobs share the cores). Prints a markdown
table; every figure is measured in this run.
"""
from __future__ import annotations

import os

# One BLAS thread: the machine is shared and OpenBLAS threads spin (10x slower steps under load).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from safu.models.lm import LMConfig, train_lm, unigram_perplexity  # noqa: E402
from safu.models.lm_backprop import polish, random_init  # noqa: E402
from safu.models.lm_corpus import build_vocabulary, encode_documents, read_text, split_documents  # noqa: E402
from safu.models.tokenizer import EOD, SOD  # noqa: E402


def default_data() -> Path:
    here = Path(__file__).resolve().parent.parent
    for base in (os.environ.get("SAFU_SHARED_DATA"), here.parent / "shared" / "data", "/work/shared/data"):
        if base and (Path(base) / "tinyshakespeare" / "input.txt").exists():
            return Path(base) / "tinyshakespeare" / "input.txt"
    raise SystemExit("tinyshakespeare not found: pass --data PATH")


# ---------------------------------------------------------------------------------------------
# Transformer baseline (PyTorch, benchmark only)

def stream(seqs) -> np.ndarray:
    """[<sod>, t_1..t_n, <eod>] per document, concatenated."""
    return np.concatenate([np.concatenate([[SOD], s, [EOD]]) for s in seqs]).astype(np.int64)


def transformer_run(train_seqs, dev_seqs, N: int, seconds: float, d: int = 80, layers: int = 2, heads: int = 4,
                    ctx: int = 64, batch: int = 32, lr: float = 3e-3, seed: int = 0):
    import torch
    import torch.nn as nn

    torch.set_num_threads(1)
    torch.manual_seed(seed)

    class TinyGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(N, d)
            self.pos = nn.Embedding(ctx, d)
            layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.bias = nn.Parameter(torch.zeros(N))
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(ctx))
            nn.init.normal_(self.tok.weight, std=0.02)  # GPT-2 init; N(0, 1) makes tied logits explode
            nn.init.normal_(self.pos.weight, std=0.02)

        def forward(self, x):
            L = x.shape[1]
            h = self.tok(x) + self.pos(torch.arange(L))
            h = self.blocks(h, mask=self.mask[:L, :L], is_causal=True)
            return self.norm(h) @ self.tok.weight.T + self.bias  # tied output layer

    model = TinyGPT()
    n_params = sum(p.numel() for p in model.parameters())
    tr, dv = torch.from_numpy(stream(train_seqs)), torch.from_numpy(stream(dev_seqs))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    t0, steps = time.process_time(), 0
    model.train()
    while time.process_time() - t0 < seconds:
        starts = torch.randint(0, len(tr) - ctx - 1, (batch,), generator=gen)
        xb = torch.stack([tr[s:s + ctx] for s in starts])
        yb = torch.stack([tr[s + 1:s + ctx + 1] for s in starts])
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits.reshape(-1, N), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    train_s = time.process_time() - t0
    # Dev: windows overlapping by one id so every target is scored once; targets that are <sod>
    # (the start of the next document) are not targets of the SAFU model either and are skipped.
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(dv) - 1, ctx):
            w = dv[s:s + ctx + 1]
            x, y = w[:-1][None], w[1:]
            lp = torch.log_softmax(model(x)[0], dim=-1)
            keep = y != SOD
            total += float(-lp[torch.arange(len(y)), y][keep].sum())
            count += int(keep.sum())
    return math.exp(total / count), count, n_params, train_s, steps


def stream_timing(model, dev_seqs, marks=(0, 2000, 15000), n=300):
    """ms per token (feed + next-token distribution) of the numpy streaming state at three depths of
    one long stream (all dev documents joined into one document): flat if the cost is constant."""
    from safu.models.lm_stream import LMStream

    ids = np.concatenate(dev_seqs)
    state, out, pos = LMStream(model), [], 0
    for mark in marks:
        while pos < mark:               # advance cheaply: feeding alone is O(b + D_b) per token
            state.feed(int(ids[pos % len(ids)]))
            pos += 1
        t0 = time.perf_counter()
        for _ in range(n):
            state.logprobs()
            state.feed(int(ids[pos % len(ids)]))
            pos += 1
        out.append((mark, 1000 * (time.perf_counter() - t0) / n))
    return out


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--backprop-seconds", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="first 20%% of the corpus, 20 s budgets (smoke run)")
    ap.add_argument("--no-torch", action="store_true", help="skip the transformer rows")
    args = ap.parse_args()
    text = read_text(args.data or default_data())
    if args.quick:
        text, args.backprop_seconds = text[:len(text) // 5], 20.0
    cut = int(len(text) * 0.9)
    train_docs, dev_docs = split_documents(text[:cut]), split_documents(text[cut:])
    vocab = build_vocabulary(train_docs, args.vocab)
    N = len(vocab)
    tr, dv = encode_documents(vocab, train_docs), encode_documents(vocab, dev_docs)
    print(f"data: {sum(map(len, tr))} train / {sum(map(len, dv))} dev word tokens, {len(tr)} / {len(dv)} "
          f"documents, vocabulary {N}; backprop budget {args.backprop_seconds:.0f}s; 1 BLAS/torch thread")
    rows = []

    def add(name, ppl, n_dev, fitted, tables, seconds, note=""):
        rows.append((name, ppl, n_dev, fitted, tables, seconds, note))
        print(f"  {name}: dev perplexity {ppl:.2f} ({seconds:.1f}s)", flush=True)

    add("unigram (add-one)", unigram_perplexity(tr, dv, N), sum(len(s) + 1 for s in dv), N, 0, 0.0)

    t0 = time.process_time()
    explicit = train_lm(tr, vocab, LMConfig(max_vocab=args.vocab, tuning_rounds=0))
    t_explicit = time.process_time() - t0
    ppl, n = explicit.perplexity(dv)
    par = explicit.n_parameters()
    add("SAFU explicit only (bootstrap)", ppl, n, par["fitted"], par["tables"], t_explicit)
    ppl_explicit = ppl

    t0 = time.process_time()
    tuned = train_lm(tr, vocab, LMConfig(max_vocab=args.vocab, tuning_rounds=2))
    t_tuned = time.process_time() - t0
    ppl, n = tuned.perplexity(dv)
    add("SAFU explicit + 2 tuning rounds", ppl, n, par["fitted"], par["tables"], t_tuned)

    # Warm start: polish whichever explicit model is better on dev (the selection is reported).
    start, start_name, t_start = (tuned, "tuned", t_tuned) if ppl < ppl_explicit else (explicit, "bootstrap", t_explicit)
    ctx_tr, ctx_dv = start.contexts(tr), start.contexts(dv)
    warm, hist = polish(start, ctx_tr, ctx_dv, seconds=args.backprop_seconds)
    t_warm = t_start + warm.info["backprop_seconds"]
    ppl_warm, n = warm.perplexity(dv)
    add("SAFU warm start + backprop", ppl_warm, n, par["fitted"], par["tables"], t_warm,
        f"from {start_name}; {warm.info['backprop_steps']} Adam steps")

    cold, _ = polish(random_init(start, seed=0), ctx_tr, ctx_dv, seconds=args.backprop_seconds)
    ppl_cold, n = cold.perplexity(dv)
    t_cold = cold.info["backprop_seconds"]
    add("SAFU cold start + same backprop budget", ppl_cold, n, par["fitted"], par["tables"], t_cold,
        f"{cold.info['backprop_steps']} Adam steps")

    if not args.no_torch:
        for label, budget in (("warm total", t_warm), ("explicit", t_explicit)):
            ppl_t, n_t, n_par, secs, steps = transformer_run(tr, dv, N, budget)
            add(f"transformer (time = SAFU {label})", ppl_t, n_t, n_par, 0, secs, f"{steps} AdamW steps")

    timing = stream_timing(warm, dv)
    print()
    print("| model | dev perplexity | dev targets | fitted parameters | frozen table entries | train CPU seconds | note |")
    print("|---|---|---|---|---|---|---|")
    for name, ppl, n_dev, fitted, tables, secs, note in rows:
        print(f"| {name} | {ppl:.2f} | {n_dev} | {fitted:,} | {tables:,} | {secs:.1f} | {note} |")
    print()
    print(f"warm vs cold at equal backprop budget: {ppl_warm:.2f} vs {ppl_cold:.2f} "
          f"({'warm' if ppl_warm < ppl_cold else 'cold'} better, ratio {ppl_cold / ppl_warm:.2f})")
    print(f"explicit only / polished: {ppl_explicit / ppl_warm:.2f}x perplexity")
    tf = [r for r in rows if r[0].startswith("transformer")]
    if tf:
        print(f"equal time ({t_warm:.0f}s): SAFU warm {ppl_warm:.2f} vs transformer {tf[0][1]:.2f}; "
              f"equal time ({t_explicit:.0f}s): SAFU explicit {ppl_explicit:.2f} vs transformer {tf[1][1]:.2f}; "
              f"parameters: SAFU {par['fitted']:,} fitted (+{par['tables']:,} frozen) vs transformer {tf[0][3]:,}")
    print("numpy streaming, ms per token at stream depth: " +
          ", ".join(f"{mark}: {ms:.3f}" for mark, ms in timing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
