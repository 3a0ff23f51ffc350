"""Reliability and security: faults, concurrency, cancellation and hostile input."""
