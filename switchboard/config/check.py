"""``switchboard check``: validate and lint one config file."""

from __future__ import annotations

from pathlib import Path

from switchboard.config.lint import lint
from switchboard.config.loader import ConfigError, load_with_sources


def check_file(path: Path) -> list[str]:
    """Problems of the config at ``path`` as ``FILE:LINE: message`` lines; empty when clean.

    Lint runs only on a file that loaded: its checks need the validated model.
    """
    try:
        config, sources = load_with_sources(path)
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return [str(problem) for problem in lint(config, sources, Path(path).parent)]
