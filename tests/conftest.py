"""Shared pytest fixtures: make the repository root importable and locate test data."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """Folder holding the reference tensors and image fixtures."""
    return DATA
