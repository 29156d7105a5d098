"""The application service, its settings and its entry points."""
