"""Scoring: the sentiment model, complaint detection, advocacy, training, evaluation, the worker.

Submodules are imported where they are used (``from customers.advocacy import ...``), so
that a command about profiles never pays for loading torch.
"""
