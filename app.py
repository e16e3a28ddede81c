"""``python app.py``: a local web app to enhance your own photos with ICLR or Zero-LEINR. The command is
``engine/commands/app_command.py`` (usage: ``python app.py --help``)."""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import sys

from engine.commands.app_command import main

if __name__ == "__main__":
    sys.exit(main())
