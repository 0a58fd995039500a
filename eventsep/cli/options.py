"""Options shared by several ``eventsep`` commands.

``--models`` names the model set (:mod:`eventsep.models.registry`) on ``separate``, ``detect``,
``evaluate`` and ``reproduce``; ``--profile`` is the reproduction run profile and exists only on
``reproduce`` (elsewhere it is a hidden, deprecated spelling of ``--models``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eventsep.core.errors import ConfigError
from eventsep.core.precision import PRECISIONS

__all__ = ["add_models_option", "add_precision_option", "models_value"]

_MODELS_HELP = (
    "model set: paper (the published checkpoints, from the cache), tiny-random (small random "
    "models, offline; the output is noise-like) or a FOLDER used as the checkpoint cache "
    "(FOLDER/<name>/<file>, as `eventsep download` lays it out)"
)


def models_value(text: str) -> str:
    """argparse ``type`` of ``--models``: the model set as recorded (a name or absolute folder)."""
    # the registry imports every model class (torch, transformers): loaded only when a command
    # parses --models, so `eventsep --help` stays fast
    from eventsep.models.registry import canonical

    try:
        return canonical(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _DeprecatedModelsAlias(argparse.Action):
    """``--profile`` on a command that takes ``--models``: same value, one warning line."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"{parser.prog}: warning: {option_string} is deprecated here, "
            f"use --models {values} (the model set)",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_models_option(
    parser: argparse.ArgumentParser,
    *,
    default: str | None = "paper",
    default_help: str = "%(default)s",
    deprecated_profile: bool = True,
) -> None:
    """Add ``--models SET`` (parsed into ``args.models``) to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    default : str or None
        Model set when the option is not given (``None``: the command derives it).
    default_help : str
        How the help text names the default.
    deprecated_profile : bool
        Also accept ``--profile SET`` (hidden from ``--help``), printing one deprecation line;
        off for ``reproduce``, where ``--profile`` is the run profile.
    """
    parser.add_argument(
        "--models",
        default=default,
        type=models_value,
        metavar="SET",
        help=f"{_MODELS_HELP} (default: {default_help})",
    )
    if deprecated_profile:
        parser.add_argument(
            "--profile",
            dest="models",
            type=models_value,
            action=_DeprecatedModelsAlias,
            help=argparse.SUPPRESS,
        )


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--precision fp32|bf16|fp16`` (``args.precision``; EventSepConfig's default)."""
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="float type the networks run in (autocast; STFTs, masks, fusion and metrics stay "
        "fp32); fp16 needs CUDA, bf16 works on CPU too",
    )
