"""Scoring: the sentiment model, complaint detection, training, evaluation, the worker.

Submodules are imported where they are used (``from scoring.sentiment import ...``), so
that a command that does not score never pays for loading torch.
"""

__all__: list[str] = []
