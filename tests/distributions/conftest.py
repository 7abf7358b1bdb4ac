"""Fixtures of the distribution tests."""

import pytest

from keras_hvae.distributions import resolver


@pytest.fixture
def fresh_resolver():
    """Lets a test re-run the tfd resolution, restoring the cached choice."""
    saved = dict(resolver._cache)
    resolver._cache.clear()
    yield resolver
    resolver._cache.clear()
    resolver._cache.update(saved)
