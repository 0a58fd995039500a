"""eventsep.paper.plot: spectrograms and Figure 2, one drawing for the CLI and notebook 01."""

from __future__ import annotations

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from eventsep.core.errors import ConfigError  # noqa: E402
from eventsep.paper import plot  # noqa: E402

DOG, BARK = 74, 75


def test_spectrogram_axes_in_seconds_and_khz() -> None:
    ax = Figure().subplots()
    sr = 16000
    t = np.arange(2 * sr) / sr
    image = plot.spectrogram(ax, np.sin(2 * np.pi * 1000 * t), sr, title="tone")
    assert ax.get_xlabel() == "Time (s)" and ax.get_ylabel() == "Frequency (kHz)"
    assert image.get_extent() == pytest.approx([0.0, 2.0, 0.0, 8.0])
    data = image.get_array()
    peak_bin = int(np.argmax(np.asarray(data).mean(axis=1)))
    assert peak_bin == pytest.approx(1000 / (sr / 1024), abs=1)  # the 1 kHz tone's bin


def _probs(frames: int = 301) -> torch.Tensor:
    probs = torch.rand(frames, 527, generator=torch.Generator().manual_seed(0)) * 0.5
    probs[:, DOG] = 0.99  # the most active class
    probs[100:200, BARK] = 0.8
    return probs


def test_sed_activity_panels() -> None:
    probs = _probs()
    fig, (axes,) = plot.sed_activity_figure(1)
    wave = 0.1 * torch.randn(3 * 32000, generator=torch.Generator().manual_seed(1))
    plot.sed_activity(
        axes, wave, 32000, probs, [BARK], threshold=0.6, top=3, target_spans=[(1.0, 2.0)]
    )
    ax_spec, ax_heat, ax_mask = axes
    assert fig.get_suptitle() == plot.FIGURE2_TITLE
    assert ax_spec.get_ylabel() == "Frequency (kHz)" and ax_spec.get_ylim()[1] == 16.0
    assert ax_mask.get_xlabel() == "Time (s)" and ax_mask.get_xlim() == (0.0, 3.01)
    ticks = ax_heat.get_yticklabels()
    assert [t.get_text() for t in ticks][:2] == ["→ Bark", "Dog"] and len(ticks) == 4
    assert [t.get_fontweight() for t in ticks[:2]] == ["bold", "normal"]
    heat = np.asarray(ax_heat.get_images()[0].get_array())  # (classes, frames)
    np.testing.assert_allclose(heat[:2], probs[:, [BARK, DOG]].T.numpy(), rtol=1e-6)
    lines = {line.get_label(): np.asarray(line.get_ydata()) for line in ax_mask.get_lines()}
    curve = probs[:, BARK].double().numpy()
    np.testing.assert_allclose(lines["p (mapped classes)"], curve, rtol=1e-6)
    np.testing.assert_array_equal(lines["hard mask (τ=0.6)"], (curve >= 0.6).astype(float))
    np.testing.assert_allclose(lines["soft mask"], np.minimum(curve / 0.6, 1.0), rtol=1e-6)
    assert lines["τ"].tolist() == [0.6, 0.6]
    (span,) = ax_mask.patches
    assert span.get_x() == 1.0 and span.get_width() == 1.0
    assert "target sounds" in [t.get_text() for t in ax_mask.get_legend().get_texts()]


def test_sed_activity_without_mapped_classes_and_bad_input() -> None:
    fig, rows = plot.sed_activity_figure(2)
    assert len(rows) == 2 and len(fig.axes) == 6
    plot.sed_activity(rows[0], torch.zeros(16000), 16000, _probs(101), top=2)
    assert rows[0][0].get_ylim()[1] == 8.0  # Nyquist of 16 kHz audio
    assert rows[0][2].get_lines() == [] and rows[0][2].get_legend() is None
    assert "no time mask" in rows[0][2].texts[0].get_text()
    with pytest.raises(ConfigError, match="probs must be"):
        plot.sed_activity(rows[1], torch.zeros(100), 16000, _probs()[:, :10])
    with pytest.raises(ConfigError, match="top"):
        plot.sed_activity(rows[1], torch.zeros(100), 16000, _probs(), top=0)
    with pytest.raises(ConfigError, match="outside"):
        plot.sed_activity(rows[1], torch.zeros(100), 16000, _probs(), [527])
    with pytest.raises(ConfigError):
        plot.sed_activity_figure(0)


def test_detect_plot_is_the_notebook_figure(tmp_path) -> None:
    """`eventsep detect --plot` and notebook 01's cell give the same PNG for the same input."""
    from eventsep import EventSep, EventSepConfig
    from eventsep.cli import main
    from eventsep.evaluation.examples import MIXTURES, examples_dir, load_example
    from eventsep.paper import report

    name = MIXTURES[0].name
    waveform, sample_rate, info = load_example(name)
    spans = info["target_spans_s"]
    # notebook 01 (smoke profile), one example: its cells, with `examples` of length 1
    threshold = 0.55
    sep = EventSep.from_pretrained("tiny-random", device="cpu", config=EventSepConfig(seed=0))
    result = sep(
        waveform, sample_rate, info["prompt"], mode="audiosep", mask="soft", threshold=threshold
    )
    import matplotlib.pyplot as plt

    fig, rows = plot.sed_activity_figure(1, fig=plt.figure())
    for axes in rows:
        plot.sed_activity(
            axes, result.mixture, result.sample_rate, result.all_probs, result.match.indices,
            frames_per_second=result.frames_per_second, threshold=threshold,
            target_spans=spans, title=f"{name}: “{info['prompt']}”",
        )  # fmt: skip
    (notebook_png,) = report.save_figure(
        fig, tmp_path / "nb", "figure2", profile="smoke", formats=("png",)
    )
    plt.close(fig)
    # the command line on the same recording
    cli_png = tmp_path / "cli" / "figure2.png"
    argv = ["detect", str(examples_dir() / "mixtures" / f"{name}.flac"), "--profile"]
    argv += ["tiny-random", "--prompt", info["prompt"], "--top", "5", "--plot", str(cli_png)]
    for start, end in spans:
        argv += ["--target-span", str(start), str(end)]
    assert main(argv) == 0
    a, b = imread(notebook_png), imread(cli_png)
    assert a.shape == b.shape and a.shape[0] > 500
    assert np.array_equal(a, b)
