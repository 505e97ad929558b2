"""Shared pytest fixtures.

`shared_data`: the folder of public data sets (SNIPS, Home Assistant intents, tinyshakespeare).
Looked up in order: $SAFU_SHARED_DATA, then <repo>/../shared/data (the CI layout).
Tests that need it are skipped, with the reason, when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def _shared_data_candidates() -> list[Path]:
    env = os.environ.get("SAFU_SHARED_DATA")
    return ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    for p in _shared_data_candidates():
        if p.is_dir():
            return p
    pytest.skip("shared data sets not found (set SAFU_SHARED_DATA or put them at ../shared/data)")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES
