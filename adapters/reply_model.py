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
import logging
import re
import zlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.channels import Channel
from domain.replies.combined import Signals
from domain.replies.reader import ReplyIntent

WEIGHTS = Path(__file__).with_name("reply_model.npz")
LABELS: tuple[ReplyIntent, ...] = tuple(ReplyIntent)
HASH_BUCKETS = 2**16
# The features' revision, part of the model's version: raise it when what ``design`` reads
# of a reply changes (the signals, the n-grams), so that weights fitted to other features
# never carry the same version into a reading's record. 2: bare amounts ("the 120").
FEATURES = 2
_NGRAMS = (2, 3, 4, 5)
_WORD = re.compile(r"[a-z0-9$']+|[^\sa-z0-9]")
_SPACES = re.compile(r"\s+")
# Cue scores past this are all "very sure"; scaling keeps them beside the other features.
_CUE_CAP = 6.0

Floats = npt.NDArray[np.float32]


class Sparse(NamedTuple):
    """A batch's distinct hashed n-grams: reply ``rows[i]`` has bucket ``buckets[i]``
    (sorted by row, then bucket); ``sizes[r]``: how many reply ``r`` has."""

    rows: npt.NDArray[np.int64]
    buckets: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]

    def of(self, row: int) -> npt.NDArray[np.int64]:
        """Reply ``row``'s buckets."""
        mine: npt.NDArray[np.int64] = self.buckets[self.rows == row]
        return mine


def _char_ngram_buckets(
    padded: Sequence[str], sizes: Sequence[int] = _NGRAMS
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """(row, bucket) of every character n-gram of each text (``sizes``: 2–5, the model's;
    the grouped cross-validation tries others): a polynomial hash over the
    code points, in numpy's wrapping 64-bit integers (the same on every machine), then mixed
    and folded. The batch is hashed at once, as one string, and the n-grams that would
    span two texts are dropped: per text, numpy's per-call cost was most of the time."""
    joined = "".join(padded)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    row_of = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    end_of = np.repeat(ends, lengths)  # each position's text's end
    rows, found = [], []
    for n in sizes:
        count = len(codes) - n + 1
        if count <= 0:
            continue
        h = np.full(count, n, dtype=np.uint64)
        for k in range(n):
            h = h * np.uint64(0x100000001B3) + codes[k : k + count]
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
        inside = np.arange(count) + n <= end_of[:count]
        rows.append(row_of[:count][inside])
        found.append(h[inside] % np.uint64(HASH_BUCKETS))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(rows), np.concatenate(found)


def sparse_features(norms: Sequence[str]) -> Sparse:
    """The distinct hashed n-grams of each reply: characters 2–5 and words 1–2."""
    char_rows, chars = _char_ngram_buckets([f" {_SPACES.sub(' ', norm)} " for norm in norms])
    word_rows: list[int] = []
    hashed: list[int] = []
    for row, norm in enumerate(norms):
        words = _WORD.findall(norm)
        before = len(hashed)
        hashed += [zlib.crc32(b"w" + word.encode()) for word in words]
        hashed += [zlib.crc32(f"b{a} {b}".encode()) for a, b in itertools.pairwise(words)]
        word_rows += [row] * (len(hashed) - before)
    tokens = np.asarray(hashed, dtype=np.uint64) % np.uint64(HASH_BUCKETS)
    rows = np.concatenate([char_rows, np.asarray(word_rows, dtype=np.int64)])
    buckets = np.concatenate([chars, tokens]).astype(np.int64)
    # One sort of (row, bucket) keys for the batch: each reply's n-grams counted once.
    # (A sort, not np.unique: numpy 2's hashing unique was slower than all else together.)
    keys = np.sort(rows * HASH_BUCKETS + buckets)
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
    rows, buckets = keys // HASH_BUCKETS, keys % HASH_BUCKETS
    return Sparse(rows, buckets, np.bincount(rows, minlength=len(norms)).astype(np.int64))


def sparse_buckets(norm: str) -> npt.NDArray[np.int64]:
    """The distinct hashed n-grams of one reply (``sparse_features`` of a batch of one)."""
    return sparse_features([norm]).buckets


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


def _import_wordllama() -> tuple[Any, Any]:
    """``wordllama`` and its inference class, leaving the process's logging as it was.

    Importing it calls ``logging.basicConfig(level=INFO)``: in a process that had not
    configured logging, every httpx request and SMTP line would then be printed
    (``recoup simulate`` printed thousands).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama.inference import WordLlamaInference
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return wordllama, WordLlamaInference


class Embedder:
    """WordLlama's static embeddings, loaded from the files inside its wheel (offline)."""

    def __init__(self) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        wordllama, WordLlamaInference = _import_wordllama()
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


def design(signals: list[Signals], embedder: Embedder) -> tuple[Floats, Sparse]:
    """The dense part (embedding + shape) and the sparse part of a batch's features."""
    dense = np.hstack(
        [
            embedder.embed([s.own for s in signals]),
            np.asarray([shape_features(s) for s in signals], dtype=np.float32).reshape(
                len(signals), SHAPE_SIZE
            ),
        ]
    )
    return dense, sparse_features([s.norm for s in signals])


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
        if len(sparse.rows):
            # Each n-gram present counts 1, each reply's row scaled to unit length.
            # Rows are sorted, so each reply's n-grams are one run: summed run by run.
            present = sparse.sizes > 0
            starts = (np.cumsum(sparse.sizes) - sparse.sizes)[present]
            summed = np.add.reduceat(self.sparse[sparse.buckets], starts, axis=0)
            scale = (1.0 / np.sqrt(sparse.sizes[present])).astype(np.float32)
            out[present] += summed * scale[:, None]
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
