"""What the server's subcommands share: loading a config or stopping with its problems."""

from __future__ import annotations

import sys

from hallq.config import ConfigError, load_config
from hallq.model import HallConfig


def config_or_exit(path: str) -> HallConfig:
    """Load a hall config; on any problem print every one (file:line: key: message) and exit 2."""
    try:
        return load_config(path)
    except FileNotFoundError:
        print(f"hallq: config file not found: {path}", file=sys.stderr)
        raise SystemExit(2) from None
    except ConfigError as exc:
        print(f"hallq: {path} is not a valid hall configuration; nothing was started:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None
