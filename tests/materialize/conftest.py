"""Fixtures of the builder tests (shared with the materializer tests): fetcher, cache, index."""

from tests.builder.helpers import cache, fetcher, index

__all__ = ["cache", "fetcher", "index"]
