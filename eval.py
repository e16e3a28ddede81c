"""``python eval.py``: enhance images with ICLR or Zero-LEINR. The command is ``engine/commands/eval_command.py``
(usage: ``python eval.py --help``)."""
import engine.cpu_threads  # noqa: F401  (first: the OpenMP wait policy must be set before torch loads)
import sys

from engine.commands.eval_command import main

if __name__ == "__main__":
    sys.exit(main())
