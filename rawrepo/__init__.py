"""rawrepo: async raw-SQL repositories for PostgreSQL, MySQL/MariaDB and SQLite.

Every query is a hand-written ``.sql`` file; a small driver layer runs it on
asyncpg, aiomysql or aiosqlite; repositories map rows into pydantic models.
"""

from rawrepo.config import Settings
from rawrepo.database import (
    Database,
    HealthStatus,
    Session,
    get_async_db_connection,
    require_queries,
)
from rawrepo.errors import (
    CheckViolation,
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    ConnectionFailed,
    ConnectionLost,
    DatabaseError,
    DataError,
    DeadlockDetected,
    ForeignKeyViolation,
    IntegrityError,
    InvalidFilterError,
    NotFoundError,
    NotNullViolation,
    PoolTimeoutError,
    QueryError,
    QueryLoadError,
    QueryNotFoundError,
    QueryParameterError,
    RawRepoError,
    ReadOnlySessionError,
    SerializationFailure,
    SessionBusyError,
    TransactionRolledBackError,
    TransientError,
    UniqueViolation,
)
from rawrepo.pool import PoolMetrics
from rawrepo.queries import BUNDLED_SQL_DIR, Query, QuerySet, load_queries
from rawrepo.replicas import ReplicaHealth

__version__ = "0.1.0"

__all__ = [
    "BUNDLED_SQL_DIR",
    "CheckViolation",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailed",
    "ConnectionLost",
    "DataError",
    "Database",
    "DatabaseError",
    "DeadlockDetected",
    "ForeignKeyViolation",
    "HealthStatus",
    "IntegrityError",
    "InvalidFilterError",
    "NotFoundError",
    "NotNullViolation",
    "PoolMetrics",
    "PoolTimeoutError",
    "Query",
    "QueryError",
    "QueryLoadError",
    "QueryNotFoundError",
    "QueryParameterError",
    "QuerySet",
    "RawRepoError",
    "ReadOnlySessionError",
    "ReplicaHealth",
    "SerializationFailure",
    "Session",
    "SessionBusyError",
    "Settings",
    "TransactionRolledBackError",
    "TransientError",
    "UniqueViolation",
    "__version__",
    "get_async_db_connection",
    "load_queries",
    "require_queries",
]
