"""``python -m annolog``: the same command line as ``annolog``."""

from annolog.api.cli import main

main()
