"""Mixed precision: which float type the models run in, and the regions kept in float32.

``precision`` is ``"fp32"`` (default: no autocast), ``"bf16"`` or ``"fp16"``. The networks (SED
CNN, AudioSep's U-Net, FlowSep's text encoder, VAE, UNet and vocoder) run under
:func:`torch.autocast`; STFTs, mel filterbanks, masks, fusion and metrics stay float32
(:func:`float32_region` around them). On CUDA every setting works; on the CPU ``"bf16"`` is allowed
(to measure drift) and ``"fp16"`` raises, as CPU autocast does not target it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from eventsep.core.errors import ConfigError

__all__ = ["PRECISIONS", "autocast_context", "autocast_name", "check_precision", "float32_region"]

#: Choices of ``precision``.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: Spellings the separators' ``autocast`` option accepts, by precision.
_AUTOCAST_NAMES = {"fp32": None, "bf16": "bf16", "fp16": "fp16"}


def check_precision(precision: object) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else :class:`ConfigError`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return str(precision)


def autocast_name(precision: str) -> str | None:
    """The separators' ``autocast`` option for ``precision`` (None for fp32)."""
    return _AUTOCAST_NAMES[check_precision(precision)]


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type


@contextlib.contextmanager
def autocast_context(precision: str | None, device: torch.device | str) -> Iterator[None]:
    """Autocast for ``precision`` on ``device`` (``None``/``"none"``/``"fp32"``: nothing).

    Raises
    ------
    ConfigError
        Unknown precision, or ``"fp16"`` on the CPU.
    """
    name = {None: "fp32", "none": "fp32"}.get(precision, precision)  # type: ignore[arg-type]
    name = check_precision(name)
    if name == "fp32":
        yield
        return
    kind = _device_type(device)
    if kind == "cpu" and name == "fp16":
        raise ConfigError("precision 'fp16' needs a CUDA device; on the CPU use 'bf16' or 'fp32'")
    with torch.autocast(device_type=kind, dtype=_DTYPES[name]):
        yield


@contextlib.contextmanager
def float32_region(device: torch.device | str) -> Iterator[None]:
    """Autocast off on ``device``: what runs inside keeps its float32 inputs in float32."""
    with torch.autocast(device_type=_device_type(device), enabled=False):
        yield
