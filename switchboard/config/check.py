"""``switchboard check``: validate and lint one config file; the same checks before a run."""

from __future__ import annotations

from pathlib import Path

from switchboard.config.lint import lint
from switchboard.config.loader import ConfigError, Problem, load_with_sources
from switchboard.config.model import Config


def check_file(path: Path) -> list[str]:
    """Problems of the config at ``path`` as ``FILE:LINE: message`` lines; empty when clean.

    Lint runs only on a file that loaded: its checks need the validated model. Errors and
    warnings are reported alike: a clean config has neither.
    """
    try:
        config, sources = load_with_sources(path)
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return [str(problem) for problem in lint(config, sources, Path(path).parent)]


def load_checked(path: Path) -> tuple[Config, list[Problem]]:
    """Load a config to run or simulate it: ``(config, warnings)``.

    Raises ``ConfigError`` when the file does not validate or when lint finds an error (a
    scheme, queue, ivr, schedule, list, prompt... that does not exist), so that a typo
    stops the start instead of failing the first call that reaches it. Lint warnings (an
    unreachable step, a rule that never matches) are returned for the caller to show.
    """
    config, sources = load_with_sources(path)
    problems = lint(config, sources, Path(path).parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return config, [p for p in problems if p.severity == "warning"]
