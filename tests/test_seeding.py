"""eventsep.core.seeding: one seeded generator, a fixed key order, a per-model rule."""

from __future__ import annotations

import torch
from torch import nn

from eventsep.core.seeding import InitScheme, seeded_init_, seeded_state_dict


def _normal(key: str, ref: torch.Tensor, gen: torch.Generator) -> torch.Tensor | None:
    if not ref.is_floating_point():
        return None  # left alone, nothing drawn
    return torch.randn(ref.shape, generator=gen)


def test_draws_follow_the_key_order_and_skip_none() -> None:
    template = {"b": torch.zeros(2), "n": torch.zeros(3, dtype=torch.long), "a": torch.zeros(3)}
    out = seeded_state_dict(template, 7, _normal)
    draws = torch.randn(5, generator=torch.Generator().manual_seed(7))
    assert list(out) == ["b", "a"] and torch.equal(out["b"], draws[:2])
    assert torch.equal(out["a"], draws[2:])  # "n" drew nothing
    by_name = seeded_state_dict(template, 7, _normal, sort_keys=True)
    assert torch.equal(by_name["a"], draws[:3]) and torch.equal(by_name["b"], draws[3:])
    assert all(torch.equal(v, torch.zeros_like(v)) for v in template.values())  # not modified


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 2, bias=False)
        self.second = nn.Linear(2, 2, bias=False)
        self.second.weight = self.first.weight  # one parameter under two names
        self.register_buffer("count", torch.zeros(1))


def test_seeded_init_fills_in_place_per_scheme() -> None:
    draws = torch.randn(9, generator=torch.Generator().manual_seed(3))
    params = seeded_init_(_Tied(), 3, InitScheme(_normal, order="parameters"))
    assert torch.equal(params.first.weight.detach().reshape(-1), draws[:4])  # drawn once
    assert params.second.weight is params.first.weight and params.count.item() == 0.0
    # state-dict order: the root's buffer, then both names of the shared weight (the last wins)
    state = seeded_init_(_Tied(), 3, InitScheme(_normal))
    assert state.count.item() == draws[0].item()
    assert torch.equal(state.first.weight.detach().reshape(-1), draws[5:9])
