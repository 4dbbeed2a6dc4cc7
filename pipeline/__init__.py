"""rolecall: an event-sourced record of who held which AWS IAM role, when, and for whom.

The library first: `pipeline.events` (the contract), `pipeline.codec` (Avro),
`pipeline.log` (embedded file log, Kafka), `pipeline.materializer` and `pipeline.store`
(DuckDB state), `pipeline.queries` (the read API the CLI and dashboard share).
"""

__version__ = "0.1.0"
