"""`safu lm train | eval` and `safu generate`: SAFU language models (docs/lm_model.md).

    safu lm train input.txt -o lm.safu [--vocab 4096 --block 32 --radius 4 --backprop-seconds 60 --dev dev.txt]
    safu lm eval lm.safu held_out.txt [--json]
    safu generate lm.safu --prompt "to be or not" [--temperature 0.8 --top-k 40 --seed 1 | --greedy]
"""
from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    lm = sub.add_parser("lm", help="train and evaluate SAFU language models",
                        description="Train or evaluate a SAFU language model.",
                        epilog="example: safu lm train input.txt -o lm.safu")
    lsub = lm.add_subparsers(dest="lm_command", metavar="SUBCOMMAND")
    lsub.required = True

    t = lsub.add_parser("train", help="fit an LM from text files (documents = blank-line separated)",
                        epilog="example: safu lm train input.txt -o lm.safu --backprop-seconds 60 --dev dev.txt")
    t.add_argument("corpus", nargs="+", metavar="CORPUS", help="UTF-8 text files")
    t.add_argument("-o", "--output", required=True, help="model file to write (.safu)")
    t.add_argument("--vocab", type=int, default=4096, help="vocabulary cap incl. specials (default 4096)")
    t.add_argument("--block", type=int, default=32, help="block size b (default 32)")
    t.add_argument("--block-bits", type=int, default=62, help="block cipher width (default 62, at most 62)")
    t.add_argument("--radius", type=int, default=16, help="radial window r (default 16)")
    t.add_argument("--radial-bits", type=int, default=48, help="radial cipher width (default 48)")
    t.add_argument("--cooc-radius", type=int, default=0, help="co-occurrence radius of the radial table (default 0 = off)")
    t.add_argument("--doc-groups", type=int, default=0, help="document model groups (default 0 = off)")
    t.add_argument("--tuning-rounds", type=int, default=1, help="W/U refits after the bootstrap (default 1)")
    t.add_argument("--backprop-seconds", type=float, default=0.0,
                   help="CPU-seconds budget of the optional Adam polish (default 0 = explicit only); needs --dev")
    t.add_argument("--dev", nargs="+", default=None, help="held-out text for early stopping")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)

    e = lsub.add_parser("eval", help="perplexity of an LM on text files",
                        epilog="example: safu lm eval lm.safu held_out.txt")
    e.add_argument("model")
    e.add_argument("text", nargs="+", metavar="TEXT")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_eval)

    g = sub.add_parser("generate", help="generate text from an LM",
                       description="Generate text from a SAFU language model.",
                       epilog='example: safu generate lm.safu --prompt "to be or not" --seed 1')
    g.add_argument("model")
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--max-tokens", type=int, default=50)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0, help="0 = all tokens")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--greedy", action="store_true")
    g.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"],
                   help="streaming state: C++ core (auto when built) or numpy reference")
    g.set_defaults(func=_generate)


def _train(args) -> int:
    from safu.models.lm import LMConfig, train_lm
    from safu.models.lm_corpus import build_vocabulary, encode_documents, load_documents

    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    if args.backprop_seconds > 0 and not args.dev:
        raise ValueError("--backprop-seconds needs --dev TEXT (early stopping on dev perplexity)")
    t0 = time.perf_counter()
    docs = load_documents(args.corpus)
    vocab = build_vocabulary(docs, args.vocab)
    seqs = encode_documents(vocab, docs)
    cfg = LMConfig(max_vocab=args.vocab, block_size=args.block, block_bits=args.block_bits, radius=args.radius,
                   radial_bits=args.radial_bits, cooc_radius=args.cooc_radius, doc_groups=args.doc_groups,
                   tuning_rounds=args.tuning_rounds)
    model = train_lm(seqs, vocab, cfg, log=say)
    if args.dev:
        dev = encode_documents(vocab, load_documents(args.dev))
        if args.backprop_seconds > 0:
            from safu.models.lm_backprop import polish
            model, _ = polish(model, model.contexts(seqs), model.contexts(dev), seconds=args.backprop_seconds,
                              log=say)
        ppl, n = model.perplexity(dev)
        model.info["dev_perplexity"] = ppl
        say(f"dev perplexity {ppl:.2f} over {n} tokens")
    model.save(args.output)
    n_par = model.n_parameters()
    print(f"wrote {args.output}: vocab {len(vocab)}, {n_par['fitted']} fitted parameters "
          f"(+{n_par['tables']} frozen table entries), {time.perf_counter() - t0:.1f}s")
    return 0


def _eval(args) -> int:
    from safu.models.lm import LMModel
    from safu.models.lm_corpus import encode_documents, load_documents

    model = LMModel.load(args.model)
    seqs = encode_documents(model.vocab, load_documents(args.text))
    ppl, n = model.perplexity(seqs)
    if args.json:
        print(json.dumps({"perplexity": ppl, "tokens": n}))
    else:
        print(f"perplexity {ppl:.2f} over {n} tokens")
    return 0


def _generate(args) -> int:
    from safu.models.lm import LMModel
    from safu.models.lm_stream import generate
    from safu.models.tokenizer import tokenize

    model = LMModel.load(args.model)
    prompt = [model.vocab.lookup(t.text) for t in tokenize(args.prompt)]
    state = None
    if args.backend != "numpy":
        from safu.runtime.backends import core_available

        if core_available():
            from safu import _core

            state = _core.LmModel(str(args.model)).stream()
        elif args.backend == "core":
            raise ValueError("--backend core needs the compiled module safu._core; reinstall with `pip install .`")
    ids = generate(model, prompt, args.max_tokens, args.temperature, args.top_k, args.seed, args.greedy, state=state)
    print(" ".join(model.vocab.tokens[i] for i in ids))
    return 0
