"""The dashboard's pages, one module per concept, each with a ``router`` and ``NAV``."""
