"""A page's clicks as CSV, written batch by batch as they come from the database."""

import csv
import io
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import aclosing

from app.db import TimedClick

HEADER = ("x", "y", "cluster_idx", "created_at")


async def csv_chunks(
    first: list[TimedClick], rest: AsyncGenerator[list[TimedClick], None]
) -> AsyncIterator[str]:
    """The header row and the rows of `first`, then those of each later batch: a chunk a batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def written(rows: Iterable[Sequence[object]]) -> str:
        writer.writerows(rows)
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    async with aclosing(rest):
        yield written([HEADER, *first])
        async for batch in rest:
            yield written(batch)


def attachment(page_uuid: str) -> str:
    """A Content-Disposition that saves the download as clicks-<page>.csv, in safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", page_uuid)[:100]
    return f'attachment; filename="clicks-{name}.csv"'
