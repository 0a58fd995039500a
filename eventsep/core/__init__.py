"""Layer 1, core: audio I/O and checks, atomic writes, errors, DSP helpers, seeding, precision,
AudioSet labels and ontology, and the pure helpers every model uses (gating spans, batching).

Imports only the standard library, numpy, torch and soundfile.
"""
