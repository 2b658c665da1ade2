"""``python -m flux_flex.testing [--config FILE] [options]``: serve the fake API until Ctrl-C.

The same options as ``flux-flex mock-server`` (``--help`` lists them), read from one table
in ``flux_flex.testing._options``; flags override the config file (JSON or TOML).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._options import OPTIONS, settings
from ._server import serve


def parser() -> argparse.ArgumentParser:
    """The command line, built from ``OPTIONS``."""
    built = argparse.ArgumentParser(
        prog="python -m flux_flex.testing",
        description="Serve the fake FLUX.2 [FLEX] API until interrupted.",
    )
    built.add_argument(
        "--config", metavar="FILE", help="Settings file (JSON, or TOML by its .toml suffix)."
    )
    for option in OPTIONS:
        if option.switch is not None:
            built.add_argument(
                option.flag,
                dest=option.key,
                action="store_const",
                const=option.switch,
                help=option.help,
            )
        else:
            built.add_argument(
                option.flag,
                dest=option.key,
                metavar=option.metavar,
                action="append" if option.multiple else "store",
                help=option.help,
            )
    return built


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve the fake API until interrupted."""
    command = parser()
    args = vars(command.parse_args(argv))
    config_file = args.pop("config")
    try:
        values, faults = settings(args, config_file)
    except ValueError as exc:
        command.error(str(exc))
    host = values.pop("host", "127.0.0.1")
    port = values.pop("port", 8787)
    values.setdefault("task_seconds", 2.0)
    try:
        serve(host, port, faults=faults, **values)
    except OSError as exc:
        command.exit(2, f"{command.prog}: error: {exc}\n")


if __name__ == "__main__":
    main()
