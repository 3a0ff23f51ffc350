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

__all__ = ["Figures", "cluster_unavailable", "figures_for"]


def cluster_unavailable(cluster: str, reason: str) -> NoReturn:
    """Skip (or, when RAWREPO_TEST_REQUIRE names ``cluster``, fail) with ``reason``."""
    if cluster in required_backends():
        pytest.fail(f"RAWREPO_TEST_REQUIRE names {cluster}, but {reason}", pytrace=False)
    pytest.skip(f"the {cluster} cluster tests need {reason}")


class Figures:
    """Measured figures of one cluster's tests: printed as they come (captured output)
    and repeated in pytest's terminal summary, so CI output shows them without ``-s``."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        print(line)
        self.lines.append(line)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lines:
            terminalreporter.ensure_newline()
            terminalreporter.section(self.title, sep="-")
            for line in self.lines:
                terminalreporter.write_line(line)


def figures_for(config: pytest.Config, figures: Figures) -> Figures:
    """Register ``figures`` with the run (once), so its summary shows; returns it."""
    if not config.pluginmanager.is_registered(figures):
        config.pluginmanager.register(figures, f"rawrepo-figures: {figures.title}")
    return figures
