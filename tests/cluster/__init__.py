"""Failover tests on real clusters (Patroni, Galera) that the tests start on loopback.

They need Debian's ``patroni``/``etcd-server`` and ``galera-4`` packages and root (the
servers run as the ``postgres`` and ``mysql`` users). Where those are missing a cluster's
tests skip with one reason, unless ``RAWREPO_TEST_REQUIRE`` names it (``patroni``,
``galera``; CI does): then they fail.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from rawrepo.testing import required_backends

__all__ = ["cluster_unavailable"]


def cluster_unavailable(cluster: str, reason: str) -> NoReturn:
    """Skip (or, when RAWREPO_TEST_REQUIRE names ``cluster``, fail) with ``reason``."""
    if cluster in required_backends():
        pytest.fail(f"RAWREPO_TEST_REQUIRE names {cluster}, but {reason}", pytrace=False)
    pytest.skip(f"the {cluster} cluster tests need {reason}")
