"""``python -m api.cli``: the same command line as ``annolog``."""

from api.cli import main

main()
