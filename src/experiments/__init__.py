"""Configuration-driven experiments on classic CNNs.

Importing the package is cheap: torch loads only when a job trains.
"""

__version__ = "0.1.0"
