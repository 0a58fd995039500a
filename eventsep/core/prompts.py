"""Prompt text checks shared by every layer that receives a user's prompt."""

from __future__ import annotations

from eventsep.core.errors import PromptError

__all__ = ["check_prompt"]


def check_prompt(prompt: object) -> str:
    """``prompt`` with runs of whitespace collapsed to one space.

    Raises
    ------
    PromptError
        ``prompt`` is not a string, or is empty or whitespace only.
    """
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be a string, got {type(prompt).__name__}")
    text = " ".join(prompt.split())
    if not text:
        raise PromptError("prompt is empty: describe the sound to separate, e.g. 'dog barking'")
    return text
