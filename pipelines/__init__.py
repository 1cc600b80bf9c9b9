"""Apache Beam wiring, one module per LLaMA source. Text logic lives in `corpus/`."""
import logging


class _OptionalGcpNotice(logging.Filter):
    """Beam warns at import that BigQuery's client is absent; no pipeline here uses BigQuery
    (the gcp extra brings it for Dataflow), so the notice would only confuse every run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_OptionalGcpNotice())
