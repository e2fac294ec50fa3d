"""Goodwill's kernel: the typed domain models, errors, identity keys, the corpus, retries.

It imports nothing but itself; the store (``store/``), the customer domain
(``customers/``) and the stages build on it.
"""

__all__: list[str] = []
