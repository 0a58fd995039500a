"""Word matching of the default mapping method: normalised words, aliases, class synonyms.

Pure functions on strings: :func:`normalize_words` (lower-case, split, drop stop words, stem),
the alias table that lets everyday prompt words count as the words class names use, and
:func:`label_synonyms` (an AudioSet display name split into its comma-separated synonyms with
optional qualifier words). Used by :class:`eventsep.method.mapping.PromptMapper`; re-exported by
:mod:`eventsep.method.mapping`.
"""

from __future__ import annotations

import dataclasses
import functools
import re

__all__ = ["label_synonyms", "normalize_words"]

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
