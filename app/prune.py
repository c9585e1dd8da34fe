"""Delete expired idempotency keys: `python -m app.prune [--batch N]`.

Keys older than IDEMPOTENCY_TTL_HOURS go, in batches of N, each batch its own short transaction,
so a save never waits on it for long. Run it periodically (cron, hourly say); a retry with an
expired key that is gone stores its click anew.
"""

import argparse
import asyncio

from psycopg import AsyncConnection

from app import db
from app.settings import get_settings


async def prune(batch: int) -> int:
    settings = get_settings()
    deleted = 0
    async with await AsyncConnection.connect(
        settings.required_database_url(), autocommit=True
    ) as conn:
        while (pruned := await db.prune_keys(conn, settings.idempotency_ttl_hours, batch)) > 0:
            deleted += pruned
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="keys per transaction")
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    print(f"{asyncio.run(prune(args.batch))} expired idempotency key(s) deleted")


if __name__ == "__main__":
    main()
