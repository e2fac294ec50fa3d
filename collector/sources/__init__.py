"""One module per source, each an async generator of normalised mentions; ``registry`` names them."""

__all__: list[str] = []
