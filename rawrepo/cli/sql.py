"""``rawrepo sql list | check | explain``: the DBA's view of every query."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rawrepo import sqlcheck

__all__ = ["add_parser"]

_URL_HELP = "database URL in the application's form (default: $DATABASE_URL)"
_DIR_HELP = "an extra folder of queries (repeatable; later folders win for a name)"
_IMPORT_HELP = "import MODULE first, so its repositories register their query contracts"


def add_parser(subparsers: Any) -> None:
    """Register the ``sql`` command group on the top-level parser's subparsers."""
    sql = subparsers.add_parser(
        "sql",
        help="list, check and explain the queries in sql/",
        description="Every query the application runs is a file under sql/. List them,"
        " check them against a live migrated database, or print their plans.",
    )
    commands = sql.add_subparsers(dest="sql_command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "list",
        help="every query: name, file per dialect, description, parameters",
        description="List every query with the file each dialect resolves to"
        " (<area>/<name>.<dialect>.sql wins over <area>/<name>.sql), its description"
        " (the file's leading -- lines) and its :parameters.",
    )
    p.add_argument("--dialect", choices=["postgresql", "mysql", "sqlite"])
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser(
        "check",
        help="prepare every query on a live database and check the repositories' contracts",
        description="Check every query of the URL's dialect against a migrated live"
        " database, changing no data: PostgreSQL prepares and describes each statement;"
        " MySQL and SQLite run it in a transaction that is always rolled back. Then the"
        " result columns of each query a repository maps into a model must cover the"
        " model's fields (types and NULLs too, on PostgreSQL), and every :parameter must"
        " be one the repository passes. Exit status 1 on any failure.",
    )
    p.add_argument("--url", help=_URL_HELP)
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--import", dest="modules", action="append", default=[], metavar="MODULE",
                   help=_IMPORT_HELP)  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser(
        "explain",
        help="print the database's plan for a query (or --all)",
        description="Print the plan: EXPLAIN on PostgreSQL and MySQL, EXPLAIN QUERY PLAN"
        " on SQLite. Parameters not given with --param get typed placeholder values.",
    )
    p.add_argument("name", nargs="?", help="the query, e.g. tasks.search_by_title")
    p.add_argument("--all", action="store_true", help="print every query's plan")
    p.add_argument("--url", help=_URL_HELP)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter value (repeatable)")  # fmt: skip
    p.add_argument("--sql-dir", action="append", default=[], metavar="PATH", help=_DIR_HELP)
    p.add_argument("--import", dest="modules", action="append", default=[], metavar="MODULE",
                   help=_IMPORT_HELP)  # fmt: skip
    p.set_defaults(handler=cmd_explain)


def cmd_list(args: argparse.Namespace) -> int:
    infos = sqlcheck.list_queries(args.sql_dir, args.dialect)
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2, default=list))
        return 0
    for info in infos:
        params = ", ".join(f":{p}" for p in info.params) or "no parameters"
        print(f"{info.name}  ({params})")
        if info.description:
            print(f"    {info.description}")
        for dialect, path in info.files.items():
            print(f"    {dialect}: {path}")
    print(f"{len(infos)} queries")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    report = asyncio.run(
        sqlcheck.check_queries(args.url, sql_dirs=args.sql_dir, modules=args.modules)
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    for result in report.queries:
        if result.ok:
            note = f"  ({result.note})" if result.note else ""
            print(f"ok    {result.name}{note}")
        else:
            where = f" (position {result.position})" if result.position else ""
            print(f"FAIL  {result.name}: {'; '.join(result.problems)}{where}")
    total, failed = len(report.queries), len(report.failed)
    print(f"{total} queries checked on {report.dialect}: {total - failed} ok, {failed} failed")
    return 0 if report.ok else 1


def cmd_explain(args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.all):
        print("error: give a query NAME or --all", file=sys.stderr)
        return 2
    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --param {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        params[key] = value
    plans = asyncio.run(
        sqlcheck.explain_query(
            args.url,
            None if args.all else [args.name],
            params=params,
            sql_dirs=args.sql_dir,
            modules=args.modules,
        )
    )
    for query, lines in plans:
        print(f"-- {query.name} ({query.path})")
        for line in lines:
            print(line)
        print()
    return 0
