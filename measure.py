"""``python measure.py``: PSNR, SSIM and LPIPS of enhanced images against their ground truth. The command
is ``engine/commands/measure_command.py`` (usage: ``python measure.py --help``)."""
import sys

from engine.commands.measure_command import main

if __name__ == "__main__":
    sys.exit(main())
