"""Goodwill's dashboard: a Streamlit multipage app over the store.

Run it with ``streamlit run dashboard/app.py`` (``goodwill up`` does).
"""

__all__: list[str] = []
