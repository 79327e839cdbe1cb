"""`trace_contact`: a job whose one step shows the history of one contact (a CRM id, a Genesys id or an email, given
in the Launchpad's config) as markdown in its run, the same history `contact-sync trace` prints. It reads only the
ledger: it opens no CRM or Genesys connection and takes no run lock, so it can run beside a sync."""

from typing import Final

import dagster as dg
from pydantic import Field

from contact_sync.ledger import Ledger
from contact_sync.pipeline.config import PipelineSettings
from contact_sync.pipeline.trace import contact_trace, trace_markdown

TRACE_JOB: Final = "trace_contact"


class TraceQuery(dg.Config):
    query: str = Field(description="The contact to trace: a CRM id, a Genesys id or an email address.")


@dg.op(
    out=dg.Out(dg.Nothing),
    description="Every recorded change of one contact, oldest first, with its links, reviews and open conflicts "
    "(the markdown metadata `trace` of this step's output).",
)
def trace_one_contact(context: dg.OpExecutionContext, config: TraceQuery) -> None:
    query = config.query.strip()
    if not query:
        raise dg.Failure("trace_contact needs a CRM id, a Genesys id or an email address (config: query)")
    with Ledger.opened(PipelineSettings.from_env().database_url) as ledger:
        data = contact_trace(ledger, query)
    if data is None:
        raise dg.Failure(
            f"no contact {query!r} in the ledger: no recorded change or link has that CRM id, Genesys id or email"
        )
    context.log.info(
        f"{query}: {len(data['changes'])} recorded changes, {len(data['links'])} active links, "
        f"{len(data['open_conflicts'])} open conflicts"
    )
    context.add_output_metadata(
        {
            "trace": dg.MetadataValue.md(trace_markdown(data)),
            "changes": len(data["changes"]),
            "active_links": len(data["links"]),
            "open_conflicts": len(data["open_conflicts"]),
            "trace_json": dg.MetadataValue.json(data),
        }
    )


@dg.job(
    name=TRACE_JOB,
    description="Where did this value go? The history of one contact (config: ops.trace_one_contact.config.query).",
    executor_def=dg.in_process_executor,
)
def trace_contact() -> None:
    trace_one_contact()
