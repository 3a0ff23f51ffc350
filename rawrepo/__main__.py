"""``python -m rawrepo``: the same as the ``rawrepo`` command."""

from rawrepo.cli import main

raise SystemExit(main())
