"""`python -m engine.evaluate --out docs/BENCHMARK.md [--quick] [--city DIR] [--seeds N]`.

The same command as `python -m engine evaluate` (engine/cli/evaluate.py): progress bar for
humans, `--events jsonl` for programs, a one-line error with a hint on bad input.
"""

from __future__ import annotations

import sys

from engine.cli.main import main as cli_main


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark through the engine CLI."""
    return cli_main(["evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
