"""`arena fleet`: vLLM servers from a fleet file, registered as operator models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from arena.cli.common import ConfigOption, JsonOption, database, echo_json, fail, load_settings

if TYPE_CHECKING:
    from arena.settings import Settings
    from serving.fleet import Fleet

app = typer.Typer(no_args_is_help=True, help="vLLM model servers from a fleet file.")


def load(settings: Settings, config: Path | None) -> tuple[Fleet, Path]:
    """The fleet from ``--config`` (else ``ARENA_FLEET``) and the directory of its run state."""
    from serving.fleet import FleetError, load_fleet
    from serving.launcher import default_run_dir

    path = config or settings.fleet
    if path is None:
        fail("give --config FLEET.toml (or set ARENA_FLEET)")
    try:
        fleet = load_fleet(path)
    except (FleetError, OSError) as exc:
        fail(str(exc))
    return fleet, default_run_dir(fleet)


def register(settings: Settings, fleet: Fleet) -> None:
    """Add or update every fleet entry as an operator model, then probe them."""
    from arena.db import make_sessionmaker, session_scope
    from arena.models import probing, service

    with database(settings) as engine:
        with session_scope(make_sessionmaker(engine)) as s:
            ids = [
                (service.upsert_operator_model(s, service.operator_model_from_fleet(e)).id, e.name)
                for e in fleet.models
            ]
        for model_id, name in ids:
            outcome = probing.probe_now(settings, engine, model_id)
            typer.echo(f"{name}: registered, {'healthy' if outcome.ok else outcome.detail}")


@app.command("up")
def up(config: ConfigOption = None) -> None:
    """Prepare and start the fleet's vLLM servers, wait for health, register them."""
    from serving.launcher import LaunchError, fleet_up

    settings = load_settings()
    fleet, run_dir = load(settings, config)
    try:
        fleet_up(fleet, run_dir=run_dir)
    except LaunchError as exc:
        fail(str(exc))
    register(settings, fleet)


@app.command("down")
def down(config: ConfigOption = None) -> None:
    """Stop the fleet's servers (SIGTERM to each, SIGKILL its group if it hangs)."""
    from serving.launcher import fleet_down

    _, run_dir = load(load_settings(), config)
    if not fleet_down(run_dir):
        typer.echo("no servers running for this fleet")


@app.command("status")
def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Which of the fleet's servers run and answer /health."""
    from serving.launcher import fleet_status

    _, run_dir = load(load_settings(), config)
    servers = fleet_status(run_dir)
    if as_json:
        echo_json(servers)
        return
    if not servers:
        typer.echo("no servers running for this fleet")
    for name, info in servers.items():
        typer.echo(f"{name:<32} " + "  ".join(f"{k}={v}" for k, v in info.items()))
