"""Layer 5, paper: the experiments registry and protocols, the authors' stage implementations,
studies, tables, plots, the reproduction report and the notebook runner.

Imports every layer below it.
"""
