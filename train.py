"""``python train.py``: train ICLR or Zero-LEINR. The command is ``engine/commands/train_command.py``
(usage: ``python train.py --help``)."""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import sys

from engine.commands.train_command import main

if __name__ == "__main__":
    sys.exit(main())
