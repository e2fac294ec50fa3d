"""The customer domain: who said it, and what they are worth to the brand.

Resolving mention authors to profiles, profiles and their advocacy, merges and exact
splits, CRM import, a person's data export and erasure, and advocate exports. It reads
what the scorer wrote and writes through the store.
"""

__all__: list[str] = []
