"""One router per concept, each mounted under ``/api/v1``."""
