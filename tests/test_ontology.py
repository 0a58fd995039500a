"""The packaged AudioSet ontology and the class sets the default mapping builds from it."""

from __future__ import annotations

import math

import pytest

from eventsep.core import ontology
from eventsep.core.errors import PromptError
from eventsep.core.labels import audioset_labels, label_index
from eventsep.method.mapping import MAX_MEMBERS, map_prompt, match_classes

DOG_FAMILY = ["Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"]


def test_ontology_has_632_nodes_and_every_detector_class() -> None:
    nodes = ontology.nodes()
    assert len(nodes) == 632
    assert sum(n.index is not None for n in nodes.values()) == 527


def test_dog_descendants_are_its_detector_children() -> None:
    names = audioset_labels()
    got = [names[i] for i, depth in ontology.detector_descendants(label_index("Dog"))]
    assert got == DOG_FAMILY  # "Bay" is a child in the ontology but no detector output
    assert ontology.ancestors(label_index("Bark"))[:2] == ("Dog", "Domestic animals, pets")
    assert ontology.detector_parents(label_index("Bark")) == (label_index("Dog"),)


def test_depth_limits_the_walk() -> None:
    music = label_index("Music")
    one = ontology.detector_descendants(music, 1)
    two = ontology.detector_descendants(music, 2)
    assert {d for _, d in one} == {1} and {d for _, d in two} == {1, 2}
    assert set(one) < set(two)


def test_dog_prompt_follows_the_dog_family_with_reasons() -> None:
    r = map_prompt("dog")
    assert r.label == "Dog"
    assert set(DOG_FAMILY) <= set(r.labels)
    assert len(r.members) == len(r.labels) <= MAX_MEMBERS
    assert [m.label for m in r.members] == list(r.labels)
    bark = next(m for m in r.members if m.label == "Bark")
    assert "child of 'Dog'" in bark.reason and -1.0 <= bark.score <= 1.0
    assert "occur in 'dog'" in r.members[0].reason
    assert "Bark" in r.describe()


def test_paper_method_is_not_expanded() -> None:
    r = map_prompt("dog", method="paper")
    assert (r.label, r.labels, r.method) == ("Dog", ("Dog",), "exact")


def test_comma_prompt_is_one_prompt() -> None:
    r = map_prompt("race car, auto racing")
    assert r.label == "Race car, auto racing" and r.method == "word"


def test_match_classes_names_the_set_explicitly() -> None:
    r = match_classes("Dog; bark ")
    assert r.labels == ("Dog", "Bark") and r.method == "classes" and r.confident
    assert r.indices == (label_index("Dog"), label_index("Bark"))
    assert math.isnan(r.score) and all(m.reason == "named in classes" for m in r.members)
    assert match_classes(["Chicken, rooster"]).labels == ("Chicken, rooster",)


@pytest.mark.parametrize("bad", ["", " ; ", []])
def test_match_classes_needs_a_class(bad) -> None:
    with pytest.raises(PromptError, match="no class"):
        match_classes(bad)


def test_match_classes_suggests_close_names() -> None:
    with pytest.raises(PromptError, match="did you mean 'Dog'"):
        match_classes("Dgo")


@pytest.mark.parametrize(
    ("prompt", "acceptable"),
    [
        ("cows mooing in a field", {"Moo", "Cattle, bovinae"}),  # "mooing" -> "moo"
        ("a woman singing", {"Female singing"}),  # woman -> female
        ("a puppy yapping", {"Dog", "Yip", "Bark"}),  # puppy -> dog
        ("someone eating chips", {"Chewing, mastication"}),  # eat -> chew
        ("a plane flying overhead", {"Aircraft", "Fixed-wing aircraft, airplane"}),
    ],
)
def test_word_aliases(prompt: str, acceptable: set[str]) -> None:
    r = map_prompt(prompt)
    assert r.label in acceptable, r.explanation
    assert r.method == "word"
