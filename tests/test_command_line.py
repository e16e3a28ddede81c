"""Flag types shared by the scripts (engine/command_line.py)."""
import argparse

import pytest

from engine.command_line import parse_size


def test_parse_size_reads_width_then_height():
    assert parse_size("600x400") == (600, 400)
    assert parse_size("1920X1080") == (1920, 1080)


@pytest.mark.parametrize("text", ["600", "600x", "x400", "600x400x3", "axb", "0x400", "600x-4"])
def test_parse_size_refuses_what_is_not_a_positive_size(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)
