"""LAION-CLAP checkpoints through eventsep.models.clap: key mapping and equivalence on twins.

The reference is the LAION-AI/CLAP training code (github LAION-AI/CLAP at 1fd4c37), which CI cannot
run. Its classes were built once, outside the repository, in a temporary environment
(torchlibrosa, librosa, torchaudio; torchvision/h5py/ftfy stubbed, ``RobertaModel.from_pretrained``
replaced by a roberta-base-shaped ``RobertaModel``). Then:

- ``tests/data/clap_layouts.json.gz`` records the key names, shapes and dtypes of its state dicts
  (the ``module.``-prefixed layout the training code saves) for the three checkpoint kinds at full
  size and for the reduced twins below;
- every floating-point tensor of a reduced twin was overwritten with :func:`seeded_laion_state`
  (integer buffers and the Swin shift masks kept as the model builds them), the twin was saved
  as the training code saves (``{"epoch", "name", "state_dict", "optimizer"}``), and the reference
  model's normalised embeddings for the inputs of :func:`_inputs` were stored in ``EXPECTED``
  (first six values per row).

The same twins are rebuilt here from the layouts and loaded strictly through eventsep.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eventsep.core.errors import CheckpointMismatchError
from eventsep.models.clap import (
    LaionClap,
    authors_input,
    clap_config,
    load_laion_state,
    map_laion_state,
)
from eventsep.models.clap.keys import read_laion_state

LAYOUTS = Path(__file__).parent / "data" / "clap_layouts.json.gz"

#: Reduced twins: HTSAT width 8, depths (2, 2) (shifted windows included), one RoBERTa layer.
REDUCED_AUDIO = dict(
    patch_embeds_hidden_size=8, depths=[2, 2], num_attention_heads=[1, 2], hidden_size=16
)
REDUCED_TEXT = dict(vocab_size=600, num_hidden_layers=1)


def seeded_laion_state(layout: list[list], seed: int) -> dict[str, torch.Tensor]:
    """Deterministic weights for a LAION layout ``[[key, shape, dtype], ...]`` (float keys only).

    Norm weights ``1 + 0.1 n``, BatchNorm running variances ``0.5 + u``, the stored mel matrix
    ``0.01 |n|``, other matrices ``n / sqrt(fan_in)``, vectors ``0.02 n``; one generator
    seeded with ``seed``, drawn in layout order. ``num_batches_tracked`` is 0; other integer
    buffers and ``attn_mask`` are left out (the loader checks or rebuilds them).
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, shape, dtype in layout:
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0)
            continue
        if dtype != "float32" or key.endswith("attn_mask"):
            continue
        n = torch.randn(shape, generator=g)
        leaf = key.split(".")[-2] if "." in key else key
        if key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith("melW"):
            out[key] = 0.01 * n.abs()
        elif (
            len(shape) == 1
            and key.endswith("weight")
            and ("norm" in leaf.lower() or "bn" in leaf or leaf.isdigit())
        ):
            out[key] = 1.0 + 0.1 * n
        elif len(shape) >= 2:
            out[key] = n / float(np.sqrt(np.prod(shape[1:])))
        else:
            out[key] = 0.02 * n
    return out


def _layouts() -> dict[str, list[list]]:
    return json.loads(gzip.decompress(LAYOUTS.read_bytes()))


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 600, (2, 9), generator=g)
    ids[:, 0], ids[0, -1], ids[1, 5] = 0, 2, 2
    mask = torch.ones_like(ids)
    ids[1, 6:], mask[1, 6:] = 1, 0
    t = torch.arange(480_000) / 48_000
    wave = torch.stack(
        [0.3 * torch.sin(2 * torch.pi * 440 * t), 0.1 * torch.randn(480_000, generator=g)]
    )
    mel_fusion = -40 + 10 * torch.randn(2, 4, 1001, 64, generator=g)
    return {"ids": ids, "mask": mask, "wave": wave, "mel_fusion": mel_fusion}


def _reduced(fusion: bool) -> LaionClap:
    config = clap_config("htsat-tiny", fusion=fusion, audio=REDUCED_AUDIO, text=REDUCED_TEXT)
    return LaionClap(config)


#: Reference embeddings (first six values per row), LAION-AI/CLAP classes on the reduced twins.
EXPECTED = {
    "reduced-fusion": {
        "text": [
            [0.06879245, -0.07399034, -0.01927803, 0.03796735, -0.00582476, -0.01827068],
            [0.06858600, -0.08529102, -0.03518568, 0.02486986, -0.03473271, -0.00768152],
        ],
        "audio": [
            [0.03588855, 0.04106881, -0.03971180, 0.07108916, -0.06708575, -0.00999442],
            [0.05021581, -0.03305298, 0.11108109, -0.03150415, 0.07497309, -0.05049419],
        ],
        "audio_short": [
            [0.03591440, 0.04151389, -0.03971552, 0.07171524, -0.06680477, -0.01009402],
            [0.05055738, -0.03301437, 0.11090604, -0.03138513, 0.07477897, -0.05046267],
        ],
        "audio_fused_longer": [
            [0.04461448, 0.01165604, -0.02068407, 0.06869680, -0.09068885, 0.01002570],
            [0.00212952, 0.04498538, -0.04333403, 0.07558043, -0.05286718, -0.02193168],
        ],
    },
    "reduced": {
        "text": [
            [0.01330924, -0.06555128, -0.00062977, -0.03342734, 0.11096860, -0.00805430],
            [0.02553076, -0.05061791, -0.00126648, -0.02893305, 0.12266798, -0.00893235],
        ],
        "audio": [
            [-0.00400687, -0.01454211, 0.00817396, 0.00498664, 0.00122505, 0.01060155],
            [-0.00333172, -0.01502229, 0.00851399, 0.00503345, 0.00104269, 0.01051082],
        ],
        "audio_short": [
            [-0.00400235, -0.01453508, 0.00817726, 0.00497732, 0.00123783, 0.01061066],
            [-0.00341908, -0.01508643, 0.00845314, 0.00499350, 0.00091924, 0.01047664],
        ],
    },
}

SEEDS = {"reduced-fusion": 11, "reduced": 12}


def _twin_file(tmp_path: Path, name: str) -> Path:
    """The reduced twin saved the way the LAION training code saves a checkpoint."""
    state = seeded_laion_state(_layouts()[name], SEEDS[name])
    path = tmp_path / f"{name}.pt"
    optimizer = {"state": {}, "param_groups": [{"lr": np.float64(1e-4)}]}
    torch.save({"epoch": 3, "name": "twin", "state_dict": state, "optimizer": optimizer}, path)
    return path


@pytest.mark.parametrize("name", ["reduced-fusion", "reduced"])
def test_reduced_twin_equals_reference(tmp_path: Path, name: str) -> None:
    fusion = name == "reduced-fusion"
    model = _reduced(fusion)
    load_laion_state(model, read_laion_state(_twin_file(tmp_path, name)))
    x = _inputs()
    with torch.no_grad():
        got = {
            "text": model.text_embedding(x["ids"], x["mask"]),
            "audio": model.audio_embedding(x["wave"]),
            "audio_short": model.audio_embedding(authors_input(x["wave"][:, :160_000])),
        }
        if fusion:
            longer = torch.tensor([True, False])
            got["audio_fused_longer"] = model.audio_embedding_from_features(x["mel_fusion"], longer)
    assert set(got) == set(EXPECTED[name])
    for key, want in EXPECTED[name].items():
        emb = got[key]
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
        torch.testing.assert_close(emb[:, :6], torch.tensor(want), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "name, kind, fusion",
    [
        ("full-htsat-tiny-fusion", "htsat-tiny", True),
        ("full-htsat-tiny", "htsat-tiny", False),
        ("full-htsat-base", "htsat-base", False),
    ],
)
def test_full_size_layouts_map_strictly(name: str, kind: str, fusion: bool) -> None:
    """Every key of the real layouts maps (or is a listed constant / unused part), shapes equal."""
    layout = _layouts()[name]
    assert all(k.startswith("module.") for k, _, _ in layout)
    state = {k: torch.empty(shape, device="meta") for k, shape, _ in layout}
    # saved with transformers 4.x: RoBERTa's position_ids buffer is in the real files
    state["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    with torch.device("meta"):
        model = LaionClap(clap_config(kind, fusion=fusion))
    own = model.state_dict()
    mapped, checks = map_laion_state(state)
    assert set(checks) <= set(own)
    built = {k for k in own if k.endswith(("position_ids", "token_type_ids", "position_index"))}
    assert set(mapped) == set(own) - built
    assert all(tuple(mapped[k].shape) == tuple(own[k].shape) for k in mapped)
    model.load_state_dict({**mapped, **{k: own[k] for k in built}}, strict=True, assign=True)
    n_unused = sum(k.startswith(("module.text_transform", "module.audio_transform")) for k in state)
    assert n_unused == 8  # the two contrastive-loss MLPs


def test_unknown_or_altered_keys_are_refused(tmp_path: Path) -> None:
    state = read_laion_state(_twin_file(tmp_path, "reduced"))
    with pytest.raises(CheckpointMismatchError, match="unexpected"):
        map_laion_state({**state, "module.audio_branch.extra.weight": torch.zeros(1)})
    model = _reduced(False)
    missing = {k: v for k, v in state.items() if "patch_embed.proj.weight" not in k}
    with pytest.raises(CheckpointMismatchError, match="does not match"):
        load_laion_state(model, missing)
    wrong = dict(state)
    wrong["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None].flip(-1)
    with pytest.raises(CheckpointMismatchError, match="standard constant"):
        load_laion_state(model, wrong)
    with pytest.raises(CheckpointMismatchError, match="state_dict"):
        torch.save([1, 2], tmp_path / "list.pt")
        read_laion_state(tmp_path / "list.pt")


def test_checkpoint_with_numpy_optimizer_state_loads_without_full_unpickling(tmp_path) -> None:
    """The optimizer's numpy float64 is allowed; any other global is refused."""
    import pickle

    path = _twin_file(tmp_path, "reduced")
    assert len(read_laion_state(path)) > 100

    class Evil:
        def __reduce__(self):
            return (print, ("never",))

    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "optimizer": Evil()}, bad)
    with pytest.raises(pickle.UnpicklingError):
        read_laion_state(bad)


def test_default_front_end_matches_what_the_twin_would_store() -> None:
    """The tiny-random models use computed kernels: a Hann-windowed DFT and Slaney mel filters."""
    from eventsep.models.clap.model import LibrosaMel

    front = LibrosaMel()
    t = torch.arange(48_000) / 48_000
    tone = torch.sin(2 * torch.pi * 1000 * t)[None]
    mel = front(tone)  # (1, 1, frames, 64)
    assert mel.shape == (1, 1, 101, 64)
    peak_bin = int(mel[0, 0, 50].argmax())
    # Slaney mel scale: linear (200/3 Hz per mel) below 1 kHz, log above; 1 kHz = 15 mel
    lo, hi = 50 / (200 / 3), 15 + 27 * np.log(14000 / 1000) / np.log(6.4)
    centres = np.linspace(lo, hi, 66)[1:-1]
    assert abs(peak_bin - int(np.argmin(abs(centres - 15.0)))) <= 1
    assert float(front.mel.sum(0).min()) > 0  # every band has weight
