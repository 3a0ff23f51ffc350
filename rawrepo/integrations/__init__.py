"""Integrations of rawrepo with web frameworks, each in its own module, imported only
when used (each needs its framework installed):

- :mod:`rawrepo.integrations.fastapi`: lifespan, session dependencies and one error
  mapping for FastAPI (``pip install "rawrepo[fastapi]"``).
"""
