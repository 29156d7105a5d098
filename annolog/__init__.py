"""The annolog SDK: versioned, mirrored, replayable training data."""
