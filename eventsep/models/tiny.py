"""Small tokenizers built offline for the tiny-random test models.

The real models use the ``roberta-base`` (CLAP text tower) and ``google/flan-t5-large`` (FlowSep)
tokenizers, which must be downloaded. The tiny-random profile needs no download, so it uses
tokenizers trained here, deterministically, on the AudioSet class names: same special-token ids
as the real ones, a vocabulary of a few hundred pieces.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from eventsep.core.heavy import heavy_imports
from eventsep.core.labels import audioset_labels

if TYPE_CHECKING:  # transformers is heavy: imported where a model is built
    from transformers import PreTrainedTokenizerFast

__all__ = ["tiny_tokenizer"]

_EXTRA_TEXT = (
    "a the of and in on with is are sound sounds someone something people playing barking barks",
    "in the distance loud quiet background noise music speaking talking singing",
)


def _corpus() -> list[str]:
    return [*audioset_labels(), *_EXTRA_TEXT]


@functools.lru_cache(maxsize=2)
def _build(kind: str) -> PreTrainedTokenizerFast:
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    with heavy_imports():
        from transformers import PreTrainedTokenizerFast

    if kind == "roberta":
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(_corpus(), trainer=trainer)
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="<s>",
            eos_token="</s>",
            sep_token="</s>",
            cls_token="<s>",
            pad_token="<pad>",
            unk_token="<unk>",
            mask_token="<mask>",
            model_max_length=512,
        )
    if kind == "t5":
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=400,
            special_tokens=["<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
            show_progress=False,
        )
        tok.train_from_iterator(_corpus(), trainer=trainer)
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            eos_token="</s>",
            pad_token="<pad>",
            unk_token="<unk>",
            model_max_length=512,
        )
    raise ValueError(f"unknown tiny tokenizer kind {kind!r}; use 'roberta' or 't5'")


def tiny_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """Return a small deterministic tokenizer with the real one's special-token ids.

    Parameters
    ----------
    kind
        ``"roberta"`` (byte-level BPE; ``<s>``=0, ``<pad>``=1, ``</s>``=2) or ``"t5"``
        (unigram; ``<pad>``=0, ``</s>``=1, ``<unk>``=2).
    """
    return _build(kind)
