"""The ``learned-resizer`` command. Each sub-command lives in ``learned_resizer.commands.<name>``
and exposes ``register(subparsers)``; commands only parse arguments and call the library."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import warnings

from learned_resizer import commands


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learned-resizer",
        description="Task-aware image resizing (Talebi & Milanfar, ICCV 2021): train a learned "
        "resizer with a vision model, compare it with the classical resizers, deploy it.",
        epilog="Start with `learned-resizer demo`; `learned-resizer COMMAND --help` lists a command's options.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(subparsers)
    return parser


def quiet_libraries() -> None:
    """Keep the terminal for our progress and results: Lightning's banners and tips go."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    quiet_libraries()  # after the imports: importing Lightning resets its loggers' level
    args, extra = parser.parse_known_args(argv)
    # argparse gives a positional list one stretch of the command line; KEY=VALUE overrides may
    # also follow options (``train a=1 --out x b=2``)
    if extra and isinstance(getattr(args, "overrides", None), list) and all(_is_override(a) for a in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args) or 0)
    except (UserError, ValueError, FileNotFoundError) as error:
        print(f"learned-resizer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"learned-resizer {args.command}: interrupted{f' ({stop})' if str(stop) else ''}", file=sys.stderr)
        return 130


def _is_override(argument: str) -> bool:
    return "=" in argument and not argument.startswith("-")


if __name__ == "__main__":
    sys.exit(main())
