"""Layer 4, evaluation: metrics, per-clip evaluation, distributed runs, benchmark data sets,
their fetching and checking, and the bundled examples.

Imports the core, models and method layers.
"""
