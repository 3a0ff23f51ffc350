"""``rawrepo sql list | check | explain | stats``: the DBA's view of every query."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from rawrepo import sqlcheck, sqlstats
from rawrepo.cli import database_url
from rawrepo.config import DIALECTS
from rawrepo.queries import BUNDLED_SQL_DIR

__all__ = ["add_parser"]

_DESCRIPTION = """\
Every query the application runs is one file:
  sql/<area>/<name>.sql             (all dialects)
  sql/<area>/<name>.<dialect>.sql   (an override for postgresql, mysql or sqlite)
Parameters are written :name; the file's leading -- lines are its description.

examples:
  rawrepo sql list --dialect postgresql
  rawrepo sql check --url postgresql://app@db.example/app
  rawrepo sql explain tasks.get_by_user --param user_id=0b6f...  --param limit=20
  rawrepo sql explain --all --url mysql://root@127.0.0.1/app
  rawrepo sql stats --url postgresql://app@db.example/app
"""

_URL_HELP = "database URL in the application's form (default: $DATABASE_URL; one is required)"
_DIR_HELP = (
    "a folder of queries over the bundled ones (repeatable; later folders win;"
    " default: ./sql when it exists)"
)
_IMPORT_HELP = "import MODULE first, so its repositories register their query contracts"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def add_parser(subparsers: Any) -> None:
    """Register the ``sql`` command group on the top-level parser's subparsers."""
    sql = subparsers.add_parser(
        "sql",
        help="list, check, explain and profile the queries in sql/",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = sql.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "list",
        help="every query: name, file per dialect, description, parameters",
        description="List every query with the file each dialect resolves to"
        " (<area>/<name>.<dialect>.sql wins over <area>/<name>.sql), its description"
        " (the file's leading -- lines) and its :parameters. Needs no database.",
    )
    p.add_argument("--dialect", choices=DIALECTS, help="only this dialect's files")
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser(
        "check",
        help="check every query on a live database, and the repositories' contracts",
        description="Check every query of the URL's dialect against a migrated live"
        " database, changing no data: PostgreSQL prepares and describes each statement;"
        " MySQL and SQLite run it with typed placeholder values in a transaction that is"
        " always rolled back (MySQL schema statements are not run). Then the result"
        " columns of each query a repository maps into a model must cover the model's"
        " fields (types too on PostgreSQL; NULLs on PostgreSQL and MySQL), and its"
        " :parameters must be exactly the ones the repository passes."
        " Prints one line per query and a summary; exit status 1 on any failure.",
    )
    p.add_argument("--url", help=_URL_HELP)
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--import", dest="modules", action="append", default=[], metavar="MODULE",
                   help=_IMPORT_HELP)  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser(
        "explain",
        help="print the database's plan for a query (or every query with --all)",
        description="Print the database's plan: EXPLAIN on PostgreSQL and MySQL,"
        " EXPLAIN QUERY PLAN on SQLite (nothing is executed). --param values are"
        " converted to the parameter's type (comma-separated for lists, 'null' for"
        " NULL); parameters not given get typed placeholder values.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="the query, e.g. tasks.search_by_title")
    which.add_argument("--all", action="store_true", help="print every query's plan")
    p.add_argument("--url", help=_URL_HELP)
    p.add_argument("--param", action="append", default=[], type=_key_value,
                   metavar="KEY=VALUE", help="a parameter value (repeatable)")  # fmt: skip
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--import", dest="modules", action="append", default=[], metavar="MODULE",
                   help=_IMPORT_HELP)  # fmt: skip
    p.set_defaults(handler=cmd_explain)

    p = commands.add_parser(
        "stats",
        help="the server's statement statistics per query file (calls, time, rows)",
        description="Read the server's statement statistics for the URL's database"
        " (PostgreSQL: pg_stat_statements; MySQL/MariaDB: performance_schema statement"
        " digests) and print, per query file: calls, total and mean time, rows; then the"
        " SQL no file owns and the files never run. Entries are mapped to files by their"
        " query tag (/* rawrepo:<name> */) or their normalized text. If the server does"
        " not collect statistics, the error says how to turn them on.",
    )
    p.add_argument("--url", help=_URL_HELP)
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="show at most N statements no file owns (default 20)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(handler=cmd_stats)


def sql_dirs(args: argparse.Namespace) -> list[str | Path]:
    """``--sql-dir`` folders, else your project's ``./sql`` when it exists (and is not
    the bundled folder itself, as in a rawrepo checkout)."""
    if args.sql_dir:
        return list(args.sql_dir)
    project = Path("sql")
    if project.is_dir() and project.resolve() != BUNDLED_SQL_DIR:
        return [project]
    return []


def cmd_list(args: argparse.Namespace) -> int:
    """``rawrepo sql list``."""
    infos = sqlcheck.list_queries(sql_dirs(args), args.dialect)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    width = max(len(d) for d in DIALECTS)
    for info in infos:
        params = ", ".join(f":{p}" for p in info.params) or "no parameters"
        print(f"{info.name}  ({params})")
        if info.description:
            print(f"    {info.description}")
        for dialect, file in info.dialects.items():
            extra = ["override"] if file.override else []
            if file.params != info.params:
                extra.append(", ".join(f":{p}" for p in file.params) or "no parameters")
            tail = f"  ({'; '.join(extra)})" if extra else ""
            print(f"    {dialect:<{width}}  {file.file}{tail}")
    print(f"{len(infos)} queries")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``rawrepo sql check``."""
    report = asyncio.run(
        sqlcheck.check_queries(database_url(args), sql_dirs=sql_dirs(args), modules=args.modules)
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for result in report.queries:
            print(result.line_text())
        print(report.summary())
    return 0 if report.ok else 1


def cmd_explain(args: argparse.Namespace) -> int:
    """``rawrepo sql explain``."""
    plans = asyncio.run(
        sqlcheck.explain_query(
            database_url(args),
            None if args.all else [args.name],
            params=dict(args.param),
            sql_dirs=sql_dirs(args),
            modules=args.modules,
        )
    )
    for i, (query, lines) in enumerate(plans):
        if i:
            print()
        print(f"-- {query.name} ({query.path})")
        for line in lines:
            print(line)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``rawrepo sql stats``."""
    report = asyncio.run(sqlstats.collect_stats(database_url(args), sql_dirs=sql_dirs(args)))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines(limit=max(args.limit, 0))))
    return 0
