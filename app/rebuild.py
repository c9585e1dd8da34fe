"""Check and repair the derived cluster summaries: `python -m app.rebuild [--replay] [PAGE ...]`.

Recomputes `clusters` from `clicks` for every page (or the pages named) whose stored summaries
differ, and reports each. With --replay it also replays each page's clicks in the order they
were saved through app/clustering.py, and reports the pages whose stored cluster ids it does
not reproduce. Exits 1 when it reported anything.
"""

import argparse
import asyncio
import sys

from psycopg import AsyncConnection

from app import db
from app.clustering import replay
from app.settings import get_settings


async def rebuild(pages: list[str], check_replay: bool) -> int:
    settings = get_settings()
    problems = 0
    async with await AsyncConnection.connect(
        settings.required_database_url(), autocommit=True
    ) as conn:
        for page in await db.pages_with_wrong_summaries(conn, pages or None):
            await db.rebuild_summaries(conn, page)
            print(f"{page}: stored cluster summaries differed from its clicks; rebuilt")
            problems += 1
        if check_replay:
            for page in pages or await db.all_pages(conn):
                clicks = await db.clicks_in_order(conn, page)
                replayed = replay([(x, y) for x, y, _ in clicks], settings.cluster_radius)
                if replayed != [idx for _, _, idx in clicks]:
                    print(f"{page}: replaying its clicks does not reproduce the stored cluster ids")
                    problems += 1
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", metavar="PAGE", help="page_uuids (default: all)")
    parser.add_argument("--replay", action="store_true", help="also replay each page's clicks")
    args = parser.parse_args()
    problems = asyncio.run(rebuild(args.pages, args.replay))
    print(f"{problems} problem(s) found")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
