"""Test-session settings.

XLA compiles every distinct program once per process; many tests build the same small programs (same
model, same shapes), so a persistent compilation cache shared by the session (and by pytest-xdist's
workers) removes most of the repeated compile time. It lives in the system temp folder, never in the
repository.

Shared fixture: ``no_data``, an empty data folder for recipes whose dataset must be reported missing.
"""
import os
import tempfile

import jax
import pytest

_CACHE = os.path.join(tempfile.gettempdir(), "fnnet-test-xla-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
os.environ.setdefault("FNNET_CACHE_DIR", _CACHE)  # `fnnet run` in a test shares the session's cache
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """An empty data folder (and no $FNNET_DATA_DIR), so only embedded or synthetic data can be used."""
    monkeypatch.delenv("FNNET_DATA_DIR", raising=False)
    folder = tmp_path / "no-data"
    folder.mkdir()
    return folder
