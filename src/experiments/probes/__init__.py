"""Probes: measured properties of a trained network on its test images, run after the test.

Each module measures one property and returns a dataclass with its ``probe/...`` metrics and, where it
has one, its curve (accuracy against a shift or an occlusion width): ``shift``, ``consistency``,
``rotation``, ``scale``, ``borders``, ``overfitting``, ``dead_units``. ``inputs.ProbeInputs`` holds what
they share (the network, the tested images, their background); ``runner.run_probes`` runs the selected
ones. The training recipe calls them (``training/probing.py``); the settings are checked torch-free in
``config/probe_rules.py``.
"""
