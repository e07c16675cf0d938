"""The shipped reply model: what a reply probably means, as ten calibrated probabilities.

One linear layer (multinomial logistic regression) over four kinds of features:

- hashed character 2–5-grams and word 1–2-grams of the folded text: typos, missing accents,
  spaced letters and Spanish inflections still share most of their n-grams;
- WordLlama's 256-dimensional static embeddings (their weights ship inside the ``wordllama``
  wheel; this module loads them from the package's files, never from the network), so a reply
  worded unlike anything in training lands near replies that mean the same;
- the offline rules' cue scores and what they find where the law is at stake (attorney,
  stop; ``domain.replies``): what was hand-tuned is an input the model weighs, not something
  it must relearn from 1,900 examples;
- the shape of the reply: how many dates and amounts it names, whether a date is today, the
  channel, a question mark.

The weights (``reply_model.npz``, beside this file) are fitted by
``tools/train_reply_model.py`` from the labelled sets committed in the repository, with a
temperature fitted on out-of-fold predictions so a probability of 0.8 is right about 80 % of
the time. Deterministic: the same text gives the same probabilities.
"""

from __future__ import annotations

import itertools
import re
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.channels import Channel
from domain.replies.combined import Signals
from domain.replies.reader import ReplyIntent

WEIGHTS = Path(__file__).with_name("reply_model.npz")
LABELS: tuple[ReplyIntent, ...] = tuple(ReplyIntent)
HASH_BUCKETS = 2**16
_NGRAMS = (2, 3, 4, 5)
_WORD = re.compile(r"[a-z0-9$']+|[^\sa-z0-9]")
_SPACES = re.compile(r"\s+")
# Cue scores past this are all "very sure"; scaling keeps them beside the other features.
_CUE_CAP = 6.0

Floats = npt.NDArray[np.float32]


def _char_ngram_buckets(padded: str) -> npt.NDArray[np.uint64]:
    """Buckets of every character 2–5-gram: a polynomial hash over the code points, in
    numpy's wrapping 64-bit integers (the same on every machine), then mixed and folded."""
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    found = []
    for n in _NGRAMS:
        count = len(codes) - n + 1
        if count <= 0:
            continue
        h = np.full(count, n, dtype=np.uint64)
        for k in range(n):
            h = h * np.uint64(0x100000001B3) + codes[k : k + count]
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
        found.append(h % np.uint64(HASH_BUCKETS))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)


def sparse_buckets(norm: str) -> npt.NDArray[np.int64]:
    """The distinct hashed n-grams of a reply: characters 2–5 and words 1–2."""
    chars = _char_ngram_buckets(f" {_SPACES.sub(' ', norm)} ")
    words = _WORD.findall(norm)
    hashed = [zlib.crc32(b"w" + word.encode()) for word in words]
    hashed += [zlib.crc32(f"b{a} {b}".encode()) for a, b in itertools.pairwise(words)]
    tokens = np.asarray(hashed, dtype=np.uint64) % np.uint64(HASH_BUCKETS)
    return np.unique(np.concatenate([chars, tokens])).astype(np.int64)


def shape_features(s: Signals) -> list[float]:
    """Rules' cues and reading, and the reply's shape, each scaled to [0, 1]."""
    cues = [min(s.cues.get(label.value, 0.0), _CUE_CAP) / _CUE_CAP for label in LABELS]
    rules = [float(s.law is ReplyIntent.ATTORNEY), float(s.law is ReplyIntent.STOP)]
    dates = len(s.dates)
    amounts = len(s.amounts)
    return [
        *cues,
        *rules,
        float(dates == 0),
        float(dates == 1),
        float(dates >= 2),
        float(amounts == 0),
        float(amounts == 1),
        float(amounts >= 2),
        float(s.today in s.dates),
        float(s.channel is Channel.SMS),
        float(s.channel is Channel.EMAIL),
        float("?" in s.own),
        float(s.stop_words),
    ]


SHAPE_SIZE = len(LABELS) + 2 + 11


class Embedder:
    """WordLlama's static embeddings, loaded from the files inside its wheel (offline)."""

    def __init__(self) -> None:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        with safe_open(
            str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu"
        ) as f:
            table = f.get_tensor("embedding.weight")
        tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
        )
        self._model = WordLlamaInference(table, tokenizer)

    def embed(self, texts: list[str]) -> Floats:
        vectors = np.asarray(self._model.embed(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)


EMBED_SIZE = 256


def design(
    signals: list[Signals], embedder: Embedder
) -> tuple[Floats, list[npt.NDArray[np.int64]]]:
    """The dense part (embedding + shape) and the sparse part of a batch's features."""
    dense = np.hstack(
        [
            embedder.embed([s.own for s in signals]),
            np.asarray([shape_features(s) for s in signals], dtype=np.float32).reshape(
                len(signals), SHAPE_SIZE
            ),
        ]
    )
    return dense, [sparse_buckets(s.norm) for s in signals]


class ReplyModel:
    """The fitted layer: ``probabilities`` of the ten intents for a batch of replies."""

    def __init__(self, weights: dict[str, Any], embedder: Embedder) -> None:
        self.sparse: Floats = np.asarray(weights["sparse"], dtype=np.float32)  # (buckets, 10)
        self.dense: Floats = np.asarray(weights["dense"], dtype=np.float32)  # (dense, 10)
        self.bias: Floats = np.asarray(weights["bias"], dtype=np.float32)
        self.temperature = float(weights["temperature"])
        self.version = str(weights["version"])
        self._embedder = embedder
        if self.sparse.shape != (HASH_BUCKETS, len(LABELS)):
            raise ValueError(f"reply model: sparse weights of shape {self.sparse.shape}")
        if self.dense.shape != (EMBED_SIZE + SHAPE_SIZE, len(LABELS)):
            raise ValueError(f"reply model: dense weights of shape {self.dense.shape}")

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> ReplyModel:
        with np.load(path, allow_pickle=False) as data:
            weights = {key: data[key] for key in data.files}
        return cls(weights, Embedder())

    def logits(self, signals: list[Signals]) -> Floats:
        dense, sparse = design(signals, self._embedder)
        out = dense @ self.dense + self.bias
        for row, buckets in enumerate(sparse):
            if len(buckets):
                # Each n-gram present counts 1, the row scaled to unit length.
                out[row] += self.sparse[buckets].sum(axis=0) / np.sqrt(len(buckets))
        return out

    def probabilities(self, signals: list[Signals]) -> Floats:
        z = self.logits(signals) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        probabilities: Floats = e / e.sum(axis=1, keepdims=True)
        return probabilities


@cache
def shipped() -> ReplyModel:
    """The model shipped with Recoup, loaded once per process (about 0.3 s, 40 MiB)."""
    return ReplyModel.load()
