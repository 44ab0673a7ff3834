"""Models: plain ``nn.Module`` classes with keyword-only builders.

Builders live in :mod:`experiments.models.lenet` and :mod:`experiments.models.alexnet`;
:mod:`experiments.models.geometry` describes their layers in plain Python (no torch).
"""
