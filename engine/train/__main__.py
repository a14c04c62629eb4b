"""`python -m engine.train --config models/<recipe>.yaml [key=value ...] [--resume]`."""

import sys

from engine.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
