"""andon: a factory's central nervous system.

Connects machines and sensors, keeps their history, knows every machine's state and KPIs.
The package is organised in floors (see DESIGN.md): ``core`` at the bottom, then ``plant``,
``historian`` and ``connect``; analytics above them; ``pipeline``; ``api``, ``web`` and ``cli``
on top. A room imports only from the floors below it.
"""

__version__ = "0.1.0"
