"""``rawrepo migrate``: apply, roll back and inspect schema migrations (yoyo underneath)."""

from __future__ import annotations

import argparse
import sys

from rawrepo import migrate
from rawrepo.cli import database_url

__all__ = ["add_parser"]

_DESCRIPTION = """\
Schema migrations are plain SQL files, one folder per dialect:
  <migrations-dir>/<postgresql|mysql|sqlite>/NNNN.<name>.sql
  <migrations-dir>/<postgresql|mysql|sqlite>/NNNN.<name>.rollback.sql
The folder for the database's dialect is chosen from the URL.

Whose migrations: your project's ./migrations (relative to the current folder),
or the folder --migrations-dir names. --bundled works on rawrepo's reference
schema instead (the users and tasks tables of its example domain); it is never
applied unless you ask for it. Both share the database's one yoyo history, by
file name: apply the bundled schema first if your tables refer to it.

The database comes from --url, else DATABASE_URL; there is no default, so no
command creates a database file you did not name. The application's URL works
as it is (postgresql+asyncpg://, mysql+aiomysql://, sqlite+aiosqlite:///...).

examples:
  rawrepo migrate new create-orders                # ./migrations/<dialect>/0001...
  rawrepo migrate apply --url postgresql://app@db.example/app
  rawrepo migrate status                           # DATABASE_URL
  rawrepo migrate rollback --count 2
  rawrepo migrate check                            # consistency + live-table review
  rawrepo migrate apply --bundled --url sqlite+aiosqlite:///data/app.db
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``migrate`` command group."""
    group = subparsers.add_parser(
        "migrate",
        help="apply, roll back and inspect schema migrations",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = group.add_subparsers(title="commands", metavar="COMMAND", required=True)

    cmd = _command(commands, "apply", "apply every migration the database does not have yet")
    _url_option(cmd)
    _dir_option(cmd)
    _lock_option(cmd)
    cmd.set_defaults(handler=apply)

    cmd = _command(
        commands,
        "rollback",
        "roll back the latest migration (or --count N, or --all)",
    )
    _url_option(cmd)
    _dir_option(cmd)
    _lock_option(cmd)
    how_many = cmd.add_mutually_exclusive_group()
    how_many.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="roll back the N most recent migrations (default: 1)",
    )
    how_many.add_argument("--all", action="store_true", help="roll back every applied migration")
    cmd.set_defaults(handler=rollback)

    cmd = _command(commands, "status", "list the migrations and whether each is applied")
    _url_option(cmd)
    _dir_option(cmd)
    cmd.set_defaults(handler=status)

    cmd = _command(
        commands,
        "new",
        "create NNNN.NAME.sql and NNNN.NAME.rollback.sql in every dialect folder",
    )
    cmd.add_argument("name", metavar="NAME", help="what the migration does, e.g. add-task-priority")
    _dir_option(cmd)
    cmd.set_defaults(handler=new)

    cmd = _command(
        commands,
        "check",
        "check that every dialect folder has the same migrations, each with a rollback,"
        " and warn about PostgreSQL statements that lock or rewrite live tables",
    )
    _dir_option(cmd)
    cmd.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings too (default: on problems only)"
    )
    cmd.set_defaults(handler=check)

    cmd = _command(
        commands,
        "break-lock",
        "remove the migration lock left by a crashed run (only when no run is in progress)",
    )
    _url_option(cmd)
    cmd.set_defaults(handler=break_lock)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")


def _url_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--url",
        metavar="URL",
        help="database URL (default: $DATABASE_URL; one of the two is required)",
    )


def _dir_option(cmd: argparse.ArgumentParser) -> None:
    which = cmd.add_mutually_exclusive_group()
    which.add_argument(
        "--migrations-dir",
        metavar="PATH",
        help="folder holding postgresql/, mysql/ and sqlite/ (default: ./migrations)",
    )
    which.add_argument(
        "--bundled",
        action="store_true",
        help="rawrepo's bundled reference schema (users, tasks) instead of your own",
    )


def _lock_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--lock-timeout",
        type=_positive_float,
        default=migrate.DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for another run's lock (default: %(default)g)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _ms(result: migrate.MigrationResult) -> str:
    return f"{result.duration_s * 1000:.1f} ms"


def apply(args: argparse.Namespace) -> int:
    """``rawrepo migrate apply``: print each migration as it is applied."""

    def report(result: migrate.MigrationResult) -> None:
        print(f"applied {result.id} ({_ms(result)})", flush=True)

    results = migrate.apply(
        database_url(args),
        migrations_dir=args.migrations_dir,
        bundled=args.bundled,
        lock_timeout=args.lock_timeout,
        on_applied=report,
    )
    if not results:
        print("nothing to apply")
    return 0


def rollback(args: argparse.Namespace) -> int:
    """``rawrepo migrate rollback``: the latest migration, ``--count N`` or ``--all``."""

    def report(result: migrate.MigrationResult) -> None:
        print(f"rolled back {result.id} ({_ms(result)})", flush=True)

    count = None if args.all else (args.count or 1)
    results = migrate.rollback(
        database_url(args),
        count,
        migrations_dir=args.migrations_dir,
        bundled=args.bundled,
        lock_timeout=args.lock_timeout,
        on_rolled_back=report,
    )
    if not results:
        print("nothing to roll back")
    return 0


def status(args: argparse.Namespace) -> int:
    """``rawrepo migrate status``: one line per migration, applied or pending."""
    rows = migrate.status(
        database_url(args), migrations_dir=args.migrations_dir, bundled=args.bundled
    )
    if not rows:
        print("no migrations")
        return 0
    width = max(len(row.id) for row in rows)
    for row in rows:
        if row.applied:
            when = f"  {row.applied_at:%Y-%m-%d %H:%M:%S} UTC" if row.applied_at else ""
            elsewhere = "" if row.in_folder else "  (not in this folder)"
            print(f"applied  {row.id:<{width}}{when}{elsewhere}")
        else:
            print(f"pending  {row.id}")
    return 0


def new(args: argparse.Namespace) -> int:
    """``rawrepo migrate new NAME``: print the created files."""
    for path in migrate.new(args.name, migrations_dir=args.migrations_dir, bundled=args.bundled):
        print(f"created {path}")
    return 0


def check(args: argparse.Namespace) -> int:
    """``rawrepo migrate check``: exit 1 and list the problems, if any."""
    problems = migrate.check(args.migrations_dir, bundled=args.bundled)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    warnings = migrate.review(args.migrations_dir, bundled=args.bundled)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    root = migrate.migrations_root(args.migrations_dir, bundled=args.bundled)
    if warnings:
        print(f"{root} is consistent, with {len(warnings)} warning(s) about live tables")
        return 1 if args.strict else 0
    print(f"ok: {root} is consistent")
    return 0


def break_lock(args: argparse.Namespace) -> int:
    """``rawrepo migrate break-lock``: remove a stale migration lock."""
    migrate.break_lock(database_url(args))
    print("migration lock removed")
    return 0
