"""Offline tokenizers for the tiny-random models keep the real special-token ids."""

import pytest

from eventsep.models.tiny import tiny_tokenizer


def test_roberta_like_ids():
    tok = tiny_tokenizer("roberta")
    ids = tok("dog barking")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and tok.pad_token_id == 1
    batch = tok(["a", "dog barking loudly"], padding=True)["input_ids"]
    assert batch[0][-1] == 1  # padded with <pad>


def test_t5_like_ids_and_determinism():
    tok = tiny_tokenizer("t5")
    ids = tok("dog barking")["input_ids"]
    assert ids[-1] == 1 and tok.pad_token_id == 0
    from eventsep.models import tiny

    tiny._build.cache_clear()
    assert tiny_tokenizer("t5")("dog barking")["input_ids"] == ids


def test_unknown_kind():
    with pytest.raises(ValueError):
        tiny_tokenizer("bert")
