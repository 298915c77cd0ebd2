"""The sidecar settings, serving ``tests.integration.pipeline_urls``: the pipeline tier against fake providers."""

from tests.integration.sidecar_settings import *  # noqa: F403 - the sidecar variant, unchanged otherwise

ROOT_URLCONF = "tests.integration.pipeline_urls"
