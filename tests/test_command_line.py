"""The parser and flag types shared by the commands (engine/commands/command_line.py)."""
import argparse

import pytest

import export
from engine.commands import app_command, eval_command, measure_command, train_command
from engine.argument_types import non_negative_float, positive_float
from engine.commands.command_line import CommandLineParser, parse_size

PARSERS = {"train": train_command.build_parser, "eval": eval_command.build_parser,
           "measure": measure_command.build_parser, "export": export.build_parser, "app": app_command.build_parser}


@pytest.mark.parametrize("command", PARSERS)
def test_every_command_parses_with_the_shared_parser(command):
    assert isinstance(PARSERS[command](), CommandLineParser)


def test_a_negative_number_is_refused_by_the_flags_range_not_taken_for_an_option(capsys):
    with pytest.raises(SystemExit):
        eval_command.build_parser().parse_args(["--input_dir", "in", "--saturation", "-1e-3"])
    assert "argument --saturation: must be greater than 0, got '-1e-3'" in capsys.readouterr().err


def test_parse_size_reads_width_then_height():
    assert parse_size("600x400") == (600, 400)
    assert parse_size("1920X1080") == (1920, 1080)


@pytest.mark.parametrize("text", ["600", "600x", "x400", "600x400x3", "axb", "0x400", "600x-4"])
def test_parse_size_refuses_what_is_not_a_positive_size(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


@pytest.mark.parametrize("parse, text, value", [(positive_float, "1e-4", 1e-4), (positive_float, "1.3", 1.3),
                                                (non_negative_float, "0", 0.0), (non_negative_float, "50", 50.0)])
def test_float_types_read_finite_numbers_in_their_range(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text", [(positive_float, "0"), (positive_float, "-1"), (non_negative_float, "-1e-4"),
                                         (positive_float, "nan"), (positive_float, "inf"), (non_negative_float, "-inf"),
                                         (non_negative_float, "NaN"), (positive_float, "x")])
def test_float_types_refuse_what_is_outside_their_range_or_not_finite(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)
