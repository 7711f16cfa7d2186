"""Shared test set-up."""

import importlib.util
import os

import pytest


def pytest_configure(config):
    # `make test` sets this: there the VizDoom tests must run, never skip for lack of vizdoom.
    if os.environ.get("EPISODIC_CURIOSITY_REQUIRE_VIZDOOM") and importlib.util.find_spec("vizdoom") is None:
        raise pytest.UsageError(
            "vizdoom is not installed but EPISODIC_CURIOSITY_REQUIRE_VIZDOOM is set; "
            "install the test extra: pip install -e '.[test]'"
        )


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Generated files (patched wads, engine folders) go to a per-test directory."""
    monkeypatch.setenv("EPISODIC_CURIOSITY_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def clean_gin():
    """An empty gin configuration before and after the test."""
    import gin  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    yield
    gin.clear_config()
