"""``python -m gib_kernels``: the command line of ``gib_kernels.cli``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
