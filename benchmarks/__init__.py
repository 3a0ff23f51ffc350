"""Benchmarks: rawrepo against the raw drivers and the SQLAlchemy/SQLModel async ORM.

Run ``python -m benchmarks --help``; see ``benchmarks/README.md``.
"""
