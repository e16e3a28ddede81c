"""``python measure.py``: PSNR, SSIM and LPIPS of enhanced images against their ground truth. The command
is ``engine/measure_command.py`` (usage: ``python measure.py --help``)."""
import sys

from engine.measure_command import main

if __name__ == "__main__":
    sys.exit(main())
