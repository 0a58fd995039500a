"""Deterministic random weights for the tiny-random models and reference-equivalence tests.

One CPU ``torch.Generator`` seeded with ``seed`` fills the tensors of a model one after the other
in a fixed key order, so the weights depend only on the seed, the key names and the shapes (not
on the device, the global RNG or the initialisers of the libraries the model comes from). What
each tensor gets is the model's :class:`InitScheme`: a rule ``(key, template, generator) ->
tensor`` and the key order. The stored reference slices of the tests pin each scheme's draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["InitRule", "InitScheme", "seeded_init_", "seeded_state_dict"]

InitRule = Callable[[str, torch.Tensor, torch.Generator], "torch.Tensor | None"]
"""``rule(key, template, generator)``: the new value of ``key`` (any dtype, the template's shape),
drawn from ``generator``; ``None`` leaves the tensor as it is (and draws nothing)."""


@dataclass(frozen=True)
class InitScheme:
    """How a model family is filled with seeded random weights.

    Attributes
    ----------
    rule : InitRule
        Value of each tensor (see :data:`InitRule`).
    order : {"state_dict", "sorted", "parameters"}
        Which tensors, in which order: every state-dict entry (parameters and buffers) in
        state-dict order or sorted by key, or the parameters only (shared ones once) in
        ``named_parameters`` order.
    """

    rule: InitRule
    order: Literal["state_dict", "sorted", "parameters"] = "state_dict"


def seeded_state_dict(
    template: Mapping[str, torch.Tensor], seed: int, rule: InitRule, *, sort_keys: bool = False
) -> dict[str, torch.Tensor]:
    """New tensors for the entries of ``template``, drawn in key order from one seeded generator.

    Parameters
    ----------
    template : mapping of str to Tensor
        Names, shapes and dtypes (e.g. ``model.state_dict()``); not modified.
    seed : int
        Seed of the CPU generator.
    rule : InitRule
        Value of each entry.
    sort_keys : bool
        Visit the keys sorted instead of in the template's order.

    Returns
    -------
    dict of str to Tensor
        The entries the rule filled, each in its template's dtype, on the CPU.
    """
    gen = torch.Generator().manual_seed(int(seed))
    out: dict[str, torch.Tensor] = {}
    for key in sorted(template) if sort_keys else template:
        ref = template[key]
        value = rule(key, ref, gen)
        if value is not None:
            out[key] = value.to(ref.dtype)
    return out


def seeded_init_(module: nn.Module, seed: int, scheme: InitScheme) -> nn.Module:
    """Fill ``module`` in place with the seeded random weights of ``scheme``; return it."""
    if scheme.order == "parameters":
        template = dict(module.named_parameters())
    else:
        template = module.state_dict()
    values = seeded_state_dict(template, seed, scheme.rule, sort_keys=scheme.order == "sorted")
    module.load_state_dict(values, strict=False)
    return module
