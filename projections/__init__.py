"""SQL views of the log: the projector, as-of queries, slices and history."""
