"""One training text with its labels: what the training data gives and training takes.

Kept apart (standard library only) so that ``scoring.train`` runs where only torch and
transformers are installed, and ``scoring.training_data`` can build examples without
importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Example"]


@dataclass(frozen=True)
class Example:
    """One training text: ``label`` one of ``scoring.train.LABELS``, ``kind`` one of its ``KINDS``.

    Either may be ``None`` (the text is labelled for the other head only).
    ``domain`` says where the text comes from, for the model card's counts.
    """

    text: str
    label: str | None
    kind: str | None = None
    domain: str | None = None
