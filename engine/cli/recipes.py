"""`python -m engine recipes`: the training recipes shipped with the engine."""

from __future__ import annotations

import argparse
import json

from engine.progress import Progress

NAME = "recipes"
HELP = "list the training recipes shipped with the engine (name, file, what it trains)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the list as one JSON document (for scripts)")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.models.recipes import list_recipes, recipes_dir

    recipes = list_recipes()
    if args.json and args.events != "jsonl":
        print(json.dumps(recipes, indent=2))  # the CLI layer: printing is its job
    return {"folder": str(recipes_dir()), "recipes": recipes}
