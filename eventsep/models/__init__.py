"""Layer 2, models: the checkpoint catalogue and cache (:mod:`~eventsep.models.hub`), the model
sets (:mod:`~eventsep.models.registry`), the Cnn14 detector, the separators, CLAP and the tiny
random models.

Each model class loads from the file it is given; only the registry knows the catalogue.
Imports :mod:`eventsep.core` only.
"""
