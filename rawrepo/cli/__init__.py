"""The ``rawrepo`` command (also ``python -m rawrepo``).

Each command group lives in its own module, ``rawrepo/cli/<group>.py``, with
one function::

    def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None

that adds the group's parser and, on every leaf command, sets
``handler=<function(args) -> int>`` with ``set_defaults``. The groups named
in ``GROUPS`` are registered when their module exists. A handler returns the
exit code; a :class:`~rawrepo.errors.RawRepoError` (or ``ValueError`` from bad
input) it raises is printed as ``error: <message>`` on stderr with exit code 1.
Usage errors exit with 2 (argparse's default).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence

from rawrepo.errors import ConfigurationError, RawRepoError

__all__ = ["GROUPS", "build_parser", "database_url", "main"]

#: Command group modules under ``rawrepo.cli``, in ``--help`` order.
GROUPS: tuple[str, ...] = ("migrate", "sql")

Handler = Callable[[argparse.Namespace], int]


def database_url(args: argparse.Namespace) -> str:
    """A command's database: ``--url``, else ``DATABASE_URL``; without either, a
    ConfigurationError saying what to pass. The command line has no default
    database, so it never creates a database file nobody named."""
    url: str | None = getattr(args, "url", None) or os.environ.get("DATABASE_URL")
    if not url:
        raise ConfigurationError(
            "no database given: pass --url URL or set DATABASE_URL"
            " (e.g. --url sqlite+aiosqlite:///data/app.db for a local SQLite file,"
            " which 'rawrepo migrate apply' then creates)",
            variable="DATABASE_URL",
        )
    return url


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available command group registered."""
    from rawrepo import __version__

    parser = argparse.ArgumentParser(
        prog="rawrepo",
        description=(
            "rawrepo: raw-SQL repositories for PostgreSQL, MySQL/MariaDB and SQLite."
            " The database comes from --url or DATABASE_URL (no default: no command"
            " creates a database you did not name); your project's migrations and"
            " queries from ./migrations and ./sql."
        ),
        epilog="Run 'rawrepo COMMAND --help' for the commands of a group.",
    )
    parser.add_argument("--version", action="version", version=f"rawrepo {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for group in GROUPS:
        name = f"{__name__}.{group}"
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:  # a group module that left a command without a handler
        parser.error("that command does nothing; see rawrepo --help")
    try:
        return handler(args)
    except (RawRepoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `rawrepo sql list | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
