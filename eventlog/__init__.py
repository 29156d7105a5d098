"""The event log: Avro-encoded commits in Kafka or in the embedded SQL log."""
