"""Content-addressed blob stores: a local directory and S3."""
