"""``python -m andon`` is the ``andon`` command."""

from andon.cli.app import main

main()
