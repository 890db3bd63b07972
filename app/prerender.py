"""Render the built-in routines at their default options, so first visits start at once.

Run as `python -m app.prerender` (the Docker image does this at build time).
"""

import argparse
import logging
import time

from fastapi.testclient import TestClient

from app.config import get_settings
from app.main import create_app
from app.routines.catalog import builtin_routines
from app.routines.definition import CUE_DENSITIES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all-densities", action="store_true", help="also render sparse and bells-only variants"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Going through the app keeps one code path: the same service, store and database.
    with TestClient(create_app(get_settings())) as client:
        for routine in builtin_routines().values():
            densities = CUE_DENSITIES if args.all_densities else (routine.default_cues,)
            for cues in densities:
                started = time.perf_counter()
                response = client.get(f"/api/routines/{routine.id}/session", params={"cues": cues})
                response.raise_for_status()
                took = time.perf_counter() - started
                logging.info("%s (%s): %.1f s", routine.id, cues, took)


if __name__ == "__main__":
    main()
