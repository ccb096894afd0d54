"""The ``switchboard`` command: run, simulate, check, schema.

Each command is a thin wrapper: parse options, call the module that owns the work.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="switchboard: self-hosted smart call routing (virtual PBX core).",
)


@app.command()
def run(
    config: Path | None = typer.Option(None, "--config", help="Config file (default: demo)"),
    data: Path = typer.Option(Path("data"), "--data", help="Where recordings and state go"),
    sip_port: int = typer.Option(5060, "--sip-port", min=0, max=65535,
                                 help="SIP port (UDP and TCP; 0: any free port)"),
    http_port: int = typer.Option(8080, "--http-port", min=0, max=65535,
                                  help="HTTP port (API and UI: later)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
) -> None:
    """Answer real SIP calls: trunks call in, agents register softphones, the core routes."""
    import asyncio
    import ipaddress
    import logging

    from switchboard.config.check import load_checked
    from switchboard.config.loader import ConfigError, demo_config_path
    from switchboard.runtime.server import StartupError, serve

    try:
        ipaddress.ip_address(host)
    except ValueError:
        _fail(f"--host {host}: give an IP address of this machine, like 127.0.0.1 or "
              "192.0.2.10 (the address phones and trunks send to; not a name)")
    _check_folder("--data", data)
    path = config or demo_config_path()
    try:
        cfg, warnings = load_checked(path)  # an unknown name stops the start, as in check
    except ConfigError as err:
        for problem in err.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"switchboard: {path} on sip:{host}:{sip_port} (UDP and TCP)")
    for agent in cfg.agents:
        secret = f" password {agent.password}" if agent.password else ""
        typer.echo(f"  agent {agent.id}: register sip:{agent.id}@{host}:{sip_port}{secret}")
    for number in cfg.numbers:
        typer.echo(f"  number {number.number}: call sip:{number.number}@{host}:{sip_port}")
    del http_port  # the HTTP API comes with its own issue
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:  # DESIGN.md: uvloop when installed
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    try:
        asyncio.run(serve(cfg, host, sip_port, config_dir=path.parent, data_dir=data))
    except StartupError as err:
        _fail(f"switchboard: {err}")


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

    for option, out in (("--json", json_out), ("--report", report)):
        if out is not None:  # before the run, not after it
            _check_output(option, out)

    raise typer.Exit(simulate_command(config, seed, json_out, report, days))


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _check_folder(option: str, folder: Path) -> None:
    """The folder switchboard writes in (recordings, voicemail): made now if it is missing,
    so that a wrong path stops the start instead of the first recording."""
    if folder.exists() and not folder.is_dir():
        _fail(f"{option} {folder}: not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _fail(f"{option} {folder}: cannot create it: {err.strerror or err}")
    if not os.access(folder, os.W_OK | os.X_OK):
        _fail(f"{option} {folder}: not writable by this user")


def _check_output(option: str, out: Path) -> None:
    """A file switchboard is about to write: its folder exists and is writable."""
    if out.is_dir():
        _fail(f"{option} {out}: is a folder; give a file name")
    folder = out.absolute().parent
    if not folder.is_dir():
        _fail(f"{option} {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists()
                                                     and not os.access(out, os.W_OK)):
        _fail(f"{option} {out}: not writable by this user")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
