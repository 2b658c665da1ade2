"""``python -m flux_flex.testing [--host H] [--port P] [--task-seconds S] [--api-key K]``."""

from __future__ import annotations

import argparse

from ._server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the fake API until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m flux_flex.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--task-seconds", type=float, default=2.0)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args(argv)
    serve(args.host, args.port, task_seconds=args.task_seconds, api_key=args.api_key)


if __name__ == "__main__":
    main()
