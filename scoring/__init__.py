"""Scoring: the sentiment model, its training and evaluation, and the scoring worker."""

from scoring.evaluate import evaluate, evaluate_held_out
from scoring.sentiment import SentimentModel
from scoring.train import train
from scoring.worker import BatchResult, ScoringWorker

__all__ = [
    "BatchResult",
    "ScoringWorker",
    "SentimentModel",
    "evaluate",
    "evaluate_held_out",
    "train",
]
