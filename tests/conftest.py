"""Shared fixtures: the real-database fixtures come from rawrepo's own pytest plugin."""

pytest_plugins = ["rawrepo.testing", "tests.domain_fixtures"]
