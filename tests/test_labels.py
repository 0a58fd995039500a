"""The packaged AudioSet class names."""

import pytest

import eventsep
from eventsep.core.labels import NUM_CLASSES, audioset_labels, audioset_mids, label_index


def test_527_names_in_index_order():
    labels = audioset_labels()
    assert len(labels) == NUM_CLASSES == 527
    assert len(set(labels)) == 527
    assert labels[0] == "Speech"
    assert labels[74] == "Dog" and labels[75] == "Bark"
    assert labels[526] == "Field recording"
    assert audioset_mids()[0] == "/m/09x0r"
    assert eventsep.audioset_labels() == labels


def test_label_index():
    assert label_index("dog") == 74
    assert label_index(" Bark ") == 75
    with pytest.raises(KeyError):
        label_index("Barking dog")
