"""``python -m pyrodisent``: the ``pyrodisent`` command (:mod:`pyrodisent.cli`)."""
import sys

from pyrodisent.cli import main

if __name__ == "__main__":
    sys.exit(main())
