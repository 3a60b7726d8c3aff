"""Logging setup. Logs carry ids, codes and masked numbers; never bodies or names."""

import logging

from relay.core.settings import get_settings


def configure(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
