"""Review PostgreSQL migrations for statements that hurt a live table.

``rawrepo migrate check`` runs this over ``<migrations>/postgresql/``: each forward
migration file (not its rollback) is read statement by statement, and a table
counts as *existing* unless the same file created it (in production, every table
of an earlier migration holds data and serves queries). The rules, each with the
safe way to write the change:

- ``create-index-locks-writes``: ``CREATE INDEX`` without ``CONCURRENTLY`` on an
  existing table holds a SHARE lock, which blocks every write for the whole build.
- ``concurrently-in-transaction``: ``CREATE INDEX CONCURRENTLY`` (or another
  ``CONCURRENTLY`` statement) in a migration that runs in a transaction, which
  PostgreSQL refuses; the file needs ``-- transactional: false``.
- ``volatile-default-rewrite``: ``ADD COLUMN`` with a volatile default
  (``clock_timestamp()``, ``random()``, ``gen_random_uuid()``, ``nextval``, a
  serial type, an identity or stored generated column) rewrites the table under
  ACCESS EXCLUSIVE; constant and stable defaults (``now()``) do not, since
  PostgreSQL 11.
- ``alter-type-rewrite``: ``ALTER COLUMN ... TYPE`` rewrites the table and its
  indexes under ACCESS EXCLUSIVE (unless the change is binary-coercible, such as
  ``varchar(n)`` to a larger ``n`` or to ``text``).
- ``table-rewrite``: ``SET TABLESPACE``, ``SET LOGGED/UNLOGGED``, ``VACUUM FULL``
  and ``CLUSTER`` rewrite the table under ACCESS EXCLUSIVE.
- ``constraint-not-valid``: ``ADD CONSTRAINT ... CHECK/FOREIGN KEY`` without
  ``NOT VALID`` scans the whole table while holding its lock; add it ``NOT VALID``
  and ``VALIDATE CONSTRAINT`` in a later migration (which blocks no reads or writes).
- ``unique-without-index``: ``ADD ... UNIQUE/PRIMARY KEY/EXCLUDE`` builds its index
  under ACCESS EXCLUSIVE; build it first with ``CREATE UNIQUE INDEX CONCURRENTLY``
  and add the constraint ``USING INDEX``.
- ``set-not-null-scan``: ``SET NOT NULL`` scans the table under ACCESS EXCLUSIVE,
  unless a validated ``CHECK (col IS NOT NULL)`` proves it (PostgreSQL 12+).
- ``not-null-without-default``: ``ADD COLUMN ... NOT NULL`` without a default fails
  on a table that has rows.
- ``reindex-locks``: ``REINDEX`` without ``CONCURRENTLY`` blocks writes.
- ``missing-lock-timeout``: a statement that takes a lock conflicting with reads or
  writes on an existing table (ALTER TABLE, CREATE INDEX, DROP, TRUNCATE, LOCK,
  CREATE TRIGGER, a foreign key to it) with no ``SET lock_timeout`` before it: while
  it waits for its lock behind a long query, every query on the table queues
  behind it. Start the migration with ``SET lock_timeout = '5s';`` and rerun it
  when it times out.

A migration acknowledges a finding with a leading comment line
``-- rawrepo: allow RULE [RULE ...]``. The review reads the SQL text only; it
needs no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RULES", "MigrationWarning", "review_file", "review_sql"]

RULES: dict[str, str] = {
    "create-index-locks-writes": "CREATE INDEX without CONCURRENTLY blocks writes",
    "concurrently-in-transaction": "CONCURRENTLY cannot run in a transaction",
    "volatile-default-rewrite": "ADD COLUMN with a volatile default rewrites the table",
    "alter-type-rewrite": "ALTER COLUMN TYPE rewrites the table",
    "table-rewrite": "the statement rewrites the table",
    "constraint-not-valid": "ADD CONSTRAINT without NOT VALID scans the table under lock",
    "unique-without-index": "ADD UNIQUE/PRIMARY KEY builds its index under ACCESS EXCLUSIVE",
    "set-not-null-scan": "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
    "not-null-without-default": "ADD COLUMN NOT NULL without a default fails on rows",
    "reindex-locks": "REINDEX without CONCURRENTLY blocks writes",
    "missing-lock-timeout": "a locking statement runs without SET lock_timeout",
}

# Functions whose default value differs row by row: PostgreSQL must rewrite the table
# to store one per row. Defaults calling anything else not in _STABLE are reported
# as "may rewrite" (the function could be volatile).
_VOLATILE = frozenset(
    {
        "clock_timestamp",
        "timeofday",
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "nextval",
        "setseed",
        "txid_current",
    }
)
_STABLE = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_setting",
        "lower",
        "upper",
        "coalesce",
        "nullif",
        "array",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "json_build_array",
        "make_interval",
        "to_jsonb",
        "interval",
        "timestamp",
        "timestamptz",
        "date",
        "numeric",
        "varchar",
        "char",
    }
)
# Statements PostgreSQL refuses inside a transaction block when they say CONCURRENTLY.
_NO_TRANSACTION = frozenset({"create", "drop", "reindex", "alter"})
_SERIAL = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})
_COLUMN_CONSTRAINTS = frozenset(
    {
        "not",
        "null",
        "check",
        "references",
        "constraint",
        "primary",
        "unique",
        "collate",
        "generated",
    }
)
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>--[^\n]*)
    |(?P<block>/\*)
    |(?P<string>[eE]?'(?:[^']|'')*')
    |(?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
    |(?P<ident>"(?:[^"]|"")*")
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<number>\d+(?:\.\d*)?)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_ALLOW = re.compile(r"^\s*--\s*rawrepo:\s*allow\s+(.*)$", re.IGNORECASE)
_TRANSACTIONAL_FALSE = re.compile(r"^\s*--\s*transactional\s*:\s*false\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MigrationWarning:
    """One finding: the file, the statement's line, the rule and what to do instead."""

    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class _Token:
    text: str
    """Words in lower case, quoted identifiers unquoted, strings as written (a
    ``$$`` body as ``''``)."""
    line: int
    word: bool = False


def _tokens(sql: str) -> Iterator[_Token | None]:
    """The statement tokens of ``sql``; ``None`` ends a statement (a ``;``)."""
    i, line, n = 0, 1, len(sql)
    while i < n:
        m = _TOKEN.match(sql, i)
        if m is None:  # pragma: no cover - the pattern matches any character
            return
        kind, text = m.lastgroup, m.group(0)
        end = m.end()
        if kind == "block":
            depth, j = 1, i + 2
            while depth and j < n:
                if sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                elif sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                else:
                    j += 1
            end, text = j, sql[i:j]
        elif kind == "dollar":
            close = sql.find(text, end)
            end = n if close < 0 else close + len(text)
            text = sql[i:end]
            yield _Token("''", line)
        elif kind == "string":
            yield _Token(text, line)
        elif kind == "ident":
            yield _Token(text[1:-1].replace('""', '"'), line)
        elif kind == "word":
            yield _Token(text.lower(), line, word=True)
        elif kind == "number":
            yield _Token(text, line)
        elif kind == "other":
            yield None if text == ";" else _Token(text, line)
        line += text.count("\n")
        i = end


def _statements(sql: str) -> list[list[_Token]]:
    statements: list[list[_Token]] = [[]]
    for token in _tokens(sql):
        if token is None:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _words(tokens: Sequence[_Token]) -> list[str]:
    return [t.text for t in tokens]


def _table_name(tokens: Sequence[_Token], start: int) -> tuple[str, int]:
    """The (unqualified) table name at ``start`` and the index after it."""
    i = start
    name = tokens[i].text if i < len(tokens) else ""
    i += 1
    while i + 1 < len(tokens) and tokens[i].text == ".":
        name = tokens[i + 1].text
        i += 2
    return name, i


def _skip(words: Sequence[str], i: int, *optional: str) -> int:
    """Skip the optional words (in order) found at ``i``."""
    for word in optional:
        parts = word.split()
        if words[i : i + len(parts)] == parts:
            i += len(parts)
    return i


def _split_actions(tokens: Sequence[_Token]) -> list[list[_Token]]:
    """ALTER TABLE's actions: ``tokens`` split at top-level commas."""
    actions: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if token.text == "," and depth == 0:
            actions.append([])
        else:
            actions[-1].append(token)
    return [a for a in actions if a]


class _Review:
    def __init__(self, path: Path, sql: str) -> None:
        self.path = path
        self.transactional = True
        self.allowed: set[str] = set()
        for raw in sql.splitlines():
            if raw.strip() and not raw.strip().startswith("--"):
                break
            if _TRANSACTIONAL_FALSE.match(raw):
                self.transactional = False
            allow = _ALLOW.match(raw)
            if allow:
                self.allowed.update(allow.group(1).replace(",", " ").split())
        self.created: set[str] = set()
        self.lock_timeout = False
        self.locking_line: int | None = None
        self.found: list[MigrationWarning] = []

    def warn(self, token: _Token, rule: str, message: str) -> None:
        if rule not in self.allowed:
            self.found.append(MigrationWarning(self.path, token.line, rule, message))

    def locks(self, token: _Token, table: str) -> None:
        """A statement takes a lock that blocks reads or writes of ``table``."""
        if table not in self.created and not self.lock_timeout and self.locking_line is None:
            self.locking_line = token.line
            self.warn(
                token,
                "missing-lock-timeout",
                f"this statement waits for a lock on the existing table {table}, and every"
                " query on it queues behind it while it waits: start the migration with"
                " SET lock_timeout = '5s'; (rerun it when it times out)",
            )

    def statement(self, tokens: list[_Token]) -> None:
        words = _words(tokens)
        first = words[0]
        if self.transactional and "concurrently" in words and first in _NO_TRANSACTION:
            self.warn(
                tokens[0],
                "concurrently-in-transaction",
                f"{first.upper()} ... CONCURRENTLY cannot run inside a transaction: make"
                " '-- transactional: false' this migration's first line (and keep the"
                " statement alone in it, with IF NOT EXISTS / IF EXISTS so a rerun works)",
            )
        if first == "set":
            self.set(words)
        elif first == "create":
            self.create(tokens, words)
        elif first == "alter" and words[1:2] == ["table"]:
            self.alter_table(tokens, words)
        elif first in ("drop", "truncate", "lock"):
            self.drop_truncate_lock(tokens, words)
        elif first == "reindex" and "concurrently" not in words:
            self.warn(
                tokens[0],
                "reindex-locks",
                "REINDEX blocks writes to the table while it runs: use REINDEX ... CONCURRENTLY"
                " (PostgreSQL 12+) in a '-- transactional: false' migration",
            )
        elif (first == "vacuum" and "full" in words[1:3]) or first == "cluster":
            self.warn(
                tokens[0],
                "table-rewrite",
                f"{' '.join(words[:2]).upper()} rewrites the table under ACCESS EXCLUSIVE,"
                " blocking reads and writes until it ends: use pg_repack, or run it in a"
                " maintenance window",
            )

    def set(self, words: list[str]) -> None:
        i = _skip(words, 1, "session", "local")
        if words[i : i + 1] == ["lock_timeout"]:
            value = "".join(w for w in words[i + 1 :] if w not in ("=", "to")).strip("'")
            self.lock_timeout = value.lower() not in ("0", "0ms", "0s", "", "default")

    def create(self, tokens: list[_Token], words: list[str]) -> None:
        i = _skip(words, 1, "or replace", "unique", "temporary", "temp", "unlogged")
        kind = words[i] if i < len(words) else ""
        if kind == "table":
            j = _skip(words, i + 1, "if not exists")
            name, _ = _table_name(tokens, j)
            for k, word in enumerate(words):
                if word == "references" and k + 1 < len(tokens):
                    referenced, _ = _table_name(tokens, k + 1)
                    if referenced != name:
                        self.locks(tokens[k], referenced)
            self.created.add(name)
        elif kind == "index":
            if "on" not in words:
                return
            table, _ = _table_name(tokens, _skip(words, words.index("on") + 1, "only"))
            if "concurrently" in words[: words.index("on")]:
                return
            if table in self.created:
                return
            self.locks(tokens[0], table)
            self.warn(
                tokens[0],
                "create-index-locks-writes",
                f"CREATE INDEX on the existing table {table} blocks every write to it until"
                " the index is built: use CREATE INDEX CONCURRENTLY IF NOT EXISTS, alone in a"
                " migration whose first line is '-- transactional: false'",
            )
        elif kind in ("trigger", "constraint") and "on" in words:
            table, _ = _table_name(tokens, _skip(words, words.index("on") + 1, "only"))
            self.locks(tokens[0], table)

    def drop_truncate_lock(self, tokens: list[_Token], words: list[str]) -> None:
        first = words[0]
        if first == "drop" and words[1:2] == ["table"]:
            i = _skip(words, 2, "if exists")
        elif first == "truncate" or first == "lock":
            i = _skip(words, 1, "table", "only")
        elif first == "drop" and words[1:2] == ["index"] and "concurrently" not in words:
            # The index's table is not named; DROP INDEX locks it all the same.
            if not self.lock_timeout and self.locking_line is None:
                name, _ = _table_name(tokens, _skip(words, 2, "if exists"))
                if name not in self.created:
                    self.locks(tokens[0], f"of index {name}")
            return
        else:
            return
        table, _ = _table_name(tokens, i)
        self.locks(tokens[0], table)

    def alter_table(self, tokens: list[_Token], words: list[str]) -> None:
        i = _skip(words, 2, "if exists", "only")
        table, i = _table_name(tokens, i)
        if table in self.created:
            return
        actions = _split_actions(tokens[i:])
        if not all(_words(a)[:2] == ["validate", "constraint"] for a in actions):
            self.locks(tokens[0], table)
        for action in actions:
            self.alter_action(table, action)

    def alter_action(self, table: str, action: list[_Token]) -> None:
        words = _words(action)
        head = action[0]
        if words[0] == "add":
            j = _skip(words, 1, "constraint")
            if words[1:2] == ["constraint"]:
                j += 1  # the constraint's name
            kind = words[j] if j < len(words) else ""
            if kind in ("check", "foreign"):
                if words[-2:] != ["not", "valid"]:
                    self.warn(
                        head,
                        "constraint-not-valid",
                        f"ADD {kind.upper()} checks every row of {table} while holding its lock:"
                        " add it NOT VALID here, and VALIDATE CONSTRAINT in a later migration"
                        " (which blocks no reads or writes)",
                    )
                return
            if kind in ("unique", "primary", "exclude"):
                if "using" not in words or kind == "exclude":
                    self.warn(
                        head,
                        "unique-without-index",
                        f"ADD {kind.upper()} builds its index on {table} under ACCESS EXCLUSIVE:"
                        " build it first with CREATE UNIQUE INDEX CONCURRENTLY, then"
                        " ADD CONSTRAINT ... UNIQUE USING INDEX",
                    )
                return
            self.add_column(table, action, _skip(words, 1, "column", "if not exists"))
        elif words[0] == "alter":
            j = _skip(words, 1, "column") + 1  # the column's name
            rest = words[j:]
            if rest[:1] == ["type"] or rest[:3] == ["set", "data", "type"]:
                self.warn(
                    head,
                    "alter-type-rewrite",
                    f"changing a column's type rewrites {table} and its indexes under ACCESS"
                    " EXCLUSIVE (unless the types are binary-coercible, e.g. varchar(n) to a"
                    " larger n or to text): add a new column, backfill it in batches, switch",
                )
            elif rest[:3] == ["set", "not", "null"]:
                self.warn(
                    head,
                    "set-not-null-scan",
                    f"SET NOT NULL scans every row of {table} under ACCESS EXCLUSIVE: first add"
                    " CHECK (col IS NOT NULL) NOT VALID and VALIDATE it, then SET NOT NULL"
                    " skips the scan (PostgreSQL 12+)",
                )
        elif words[0] == "set" and words[1:2] in (["tablespace"], ["logged"], ["unlogged"]):
            self.warn(
                head,
                "table-rewrite",
                f"SET {words[1].upper()} rewrites {table} under ACCESS EXCLUSIVE, blocking reads"
                " and writes until it ends",
            )

    def add_column(self, table: str, action: list[_Token], start: int) -> None:
        words = _words(action)
        head = action[0]
        column = words[start] if start < len(words) else "?"
        type_word = words[start + 1] if start + 1 < len(words) else ""
        default: list[str] = []
        if "default" in words:
            k = words.index("default") + 1
            depth = 0
            while k < len(words) and (depth or words[k] not in _COLUMN_CONSTRAINTS):
                depth += {"(": 1, ")": -1}.get(words[k], 0)
                default.append(words[k])
                k += 1
        generated = "generated" in words
        volatile = type_word in _SERIAL or (
            generated and ("stored" in words or "identity" in words)
        )
        calls = {default[k] for k in range(len(default) - 1) if default[k + 1] == "("}
        volatile = volatile or bool(calls & _VOLATILE)
        unknown = sorted(c for c in calls - _VOLATILE - _STABLE if c[0].isalpha())
        if volatile:
            self.warn(
                head,
                "volatile-default-rewrite",
                f"ADD COLUMN {column} with a value computed per row (a volatile default, a serial,"
                f" identity or stored generated column) rewrites {table} under ACCESS"
                " EXCLUSIVE: add the column without it (or with a constant default), backfill in"
                " batches, then SET DEFAULT",
            )
        elif unknown:
            self.warn(
                head,
                "volatile-default-rewrite",
                f"ADD COLUMN {column} DEFAULT calls {', '.join(unknown)}: if that is VOLATILE,"
                f" PostgreSQL rewrites {table} under ACCESS EXCLUSIVE (constant and STABLE"
                " defaults do not rewrite)",
            )
        not_null = any(words[k : k + 2] == ["not", "null"] for k in range(len(words)))
        if not_null and not default and not generated:
            self.warn(
                head,
                "not-null-without-default",
                f"ADD COLUMN {column} NOT NULL without a DEFAULT fails on a table that has"
                " rows: give it a constant default, or add it NULL, backfill, then SET NOT NULL",
            )


def review_sql(sql: str, path: Path) -> list[MigrationWarning]:
    """The findings for one PostgreSQL migration's text (``path`` names it in them)."""
    review = _Review(path, sql)
    for statement in _statements(sql):
        review.statement(statement)
    for rule in sorted(review.allowed - RULES.keys()):
        review.found.append(
            MigrationWarning(
                path,
                1,
                "unknown-rule",
                f"'-- rawrepo: allow {rule}' names no review rule (rules: {', '.join(RULES)})",
            )
        )
    return review.found


def review_file(path: Path) -> list[MigrationWarning]:
    """The findings for one PostgreSQL migration file."""
    return review_sql(path.read_text(encoding="utf-8"), path)
