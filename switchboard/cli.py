"""The ``switchboard`` command: run, simulate, check, schema.

Each command is a thin wrapper: parse options, call the module that owns the work.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="switchboard: self-hosted smart call routing (virtual PBX core).",
)


@app.command()
def check(file: Path = typer.Argument(..., help="Config file to validate and lint")) -> None:
    """Validate and lint a config: one line per problem, FILE:LINE: message."""
    from switchboard.config.check import check_file

    problems = check_file(file)
    for line in problems:
        typer.echo(line)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{file}: ok")


@app.command()
def schema() -> None:
    """Print the config's JSON Schema (for editors)."""
    from switchboard.config.loader import json_schema

    typer.echo(json_schema())


@app.command()
def simulate(
    config: Path | None = typer.Option(None, "--config", help="Config file (default: demo)"),
    seed: int = typer.Option(1, "--seed", help="Random seed: same seed, same result"),
    json_out: Path | None = typer.Option(None, "--json", help="Write KPIs as JSON here"),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here"),
    days: int | None = typer.Option(None, "--days", help="Override simulation.days"),
) -> None:
    """Replay a day of traffic through the routing core with a virtual clock."""
    from switchboard.sim.command import simulate_command

    raise typer.Exit(simulate_command(config, seed, json_out, report, days))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
