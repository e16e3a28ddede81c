"""Shared pytest fixtures: locate test data (the packages are importable through `pip install -e .`)."""
import pathlib

import pytest

DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """Folder holding the reference tensors and image fixtures."""
    return DATA
