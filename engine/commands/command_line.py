"""Command-line parsing shared by the commands (train, eval, measure, export, app): negative numbers as option
values, and a size type (the checked number types are ``engine.argument_types``, which the trainers' flags use
too)."""
import argparse
import re
import sys

_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$", re.IGNORECASE)


class CommandLineParser(argparse.ArgumentParser):
    """The parser of every command: an ``ArgumentParser`` that reads a negative number after an option as that
    option's value.

    Plain argparse takes ``--lr -1e-4`` for ``--lr`` without a value followed by an unknown
    option ``-1e-4``; here the number is joined to the option (``--lr=-1e-4``) before parsing.
    """

    def parse_known_args(self, args=None, namespace=None):
        joined: list[str] = []
        for token in sys.argv[1:] if args is None else args:
            if _NUMBER.match(token) and joined and joined[-1].startswith("--") and "=" not in joined[-1]:
                joined[-1] = f"{joined[-1]}={token}"
            else:
                joined.append(token)
        return super().parse_known_args(joined, namespace)


def parse_size(text: str) -> tuple[int, int]:
    """argparse type: an image size ``WIDTHxHEIGHT`` such as ``600x400`` -> ``(width, height)``, both >= 1."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 600x400, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return width, height
