"""Fit the shipped reply model (``adapters/reply_model.npz``) from the labelled sets in the repo.

    .venv/bin/python -m tools.train_reply_model [--check]

Trained on ``tests/fixtures/replies-train.jsonl``, the dev part of
``shared/data/replies-dev.jsonl`` and the open two thirds of
``tests/fixtures/replies-people/`` and ``tests/fixtures/replies-more/``; never on the
evaluation sets (the dev file's held-out part, ``replies-fresh.jsonl``, the held-out thirds
of the two people's sets). Deterministic: the same data gives the same weights (lbfgs from
zero, rows in file order), and ``version`` is a hash of the data and the settings. The
temperature is fitted on out-of-fold logits of a 5-fold split, so the probabilities are
calibrated on replies the model did not see. ``--check`` refits and says whether the
committed weights are what the data gives.

Needs scikit-learn (the ``dev`` extra); the runtime reads the weights with numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from adapters.reply_model import FEATURES, HASH_BUCKETS, LABELS, WEIGHTS, Embedder, design
from domain.channels import Channel
from domain.replies.combined import signals_of
from tests.reply_eval import rows_of, when

# Inverse regularization: picked by 5-fold cross-validation on the training pool (3, 10, 30,
# 100 tried; 30 best), never on an evaluation set.
C = 30.0
FOLDS = 5
TRAINING_SETS = ("train", "dev", "people", "more")


def training_rows() -> list[dict[str, Any]]:
    return [row for name in TRAINING_SETS for row in rows_of(name)]


def matrix(rows: list[dict[str, Any]], embedder: Embedder) -> Any:
    signals = [
        signals_of(
            row["text"],
            when(row["received_at"]),
            Channel(row["channel"]) if row.get("channel") in set(Channel) else None,
        )
        for row in rows
    ]
    dense, sparse = design(signals, embedder)
    # Each n-gram present counts 1, each reply's row scaled to unit length (as ``logits``).
    data = 1.0 / np.sqrt(np.maximum(sparse.sizes, 1))[sparse.rows]
    hashed = csr_matrix((data, (sparse.rows, sparse.buckets)), shape=(len(rows), HASH_BUCKETS))
    return hstack([hashed, csr_matrix(dense)]).tocsr()


def _fit(x: Any, y: Any) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=5000, tol=1e-6).fit(x, y)


def _nll(logits: Any, y: Any, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def fit() -> tuple[dict[str, Any], dict[str, Any]]:
    rows = training_rows()
    embedder = Embedder()
    x = matrix(rows, embedder)
    y = np.array([LABELS.index(next(i for i in LABELS if i.value == r["intent"])) for r in rows])
    out_of_fold = np.zeros((len(rows), len(LABELS)))
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y):
        out_of_fold[test] = _fit(x[train], y[train]).decision_function(x[test])
    grid = [round(0.25 + 0.05 * i, 2) for i in range(76)]  # 0.25 .. 4.0
    temperature = min(grid, key=lambda t: _nll(out_of_fold, y, t))
    model = _fit(x, y)
    coef = model.coef_.T.astype(np.float32)  # (features, labels)
    data_hash = hashlib.sha256(
        json.dumps([[r["id"], r["text"], r["intent"]] for r in rows]).encode()
    ).hexdigest()
    weights = {
        "sparse": coef[:HASH_BUCKETS],
        "dense": coef[HASH_BUCKETS:],
        "bias": model.intercept_.astype(np.float32),
        "temperature": np.float32(temperature),
        "version": np.str_(f"lr-C{C:g}-f{FEATURES}-{data_hash[:12]}"),
    }
    report = {
        "rows": len(rows),
        "cv_accuracy": round(float((out_of_fold.argmax(axis=1) == y).mean()), 4),
        "temperature": temperature,
        "version": str(weights["version"]),
    }
    return weights, report


def main(argv: list[str]) -> int:
    weights, report = fit()
    if "--check" in argv:
        with np.load(WEIGHTS, allow_pickle=False) as shipped:
            same = str(shipped["version"]) == str(weights["version"]) and all(
                np.allclose(shipped[k], weights[k], atol=1e-4) for k in ("sparse", "dense", "bias")
            )
        print(json.dumps({**report, "matches_committed": same}))
        return 0 if same else 1
    np.savez_compressed(WEIGHTS, **weights)
    print(json.dumps({**report, "bytes": WEIGHTS.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
