"""Pieces of the small projects that the plugin tests run pytest on (with pytester)."""

from __future__ import annotations

# pytest.ini of such a project: rawrepo's async fixtures share pytest-asyncio's session loop.
INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
addopts = -ra -p no:cacheprovider
"""
