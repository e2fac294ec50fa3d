"""Scoring: the sentiment model, complaint detection, training, evaluation, the worker."""

from scoring.complaints import ComplaintVerdict, detect
from scoring.evaluate import evaluate, evaluate_held_out
from scoring.sentiment import SentimentModel
from scoring.train import train
from scoring.worker import BatchResult, ScoringWorker

__all__ = [
    "BatchResult",
    "ComplaintVerdict",
    "ScoringWorker",
    "SentimentModel",
    "detect",
    "evaluate",
    "evaluate_held_out",
    "train",
]
