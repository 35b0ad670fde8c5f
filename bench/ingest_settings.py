"""Settings for the ingestion bench: opscore's own, plus the ceiling endpoint's URL."""

from opscore.settings import *  # noqa: F403 - the bench serves opscore exactly as configured

ROOT_URLCONF = "bench.ingest_urls"
