"""`arena demo`: model servers and the app on one machine, stopped together."""

from __future__ import annotations

import typer

from arena.cli import fleet
from arena.cli.common import (
    ConfigOption,
    HostOption,
    PortOption,
    fail,
    load_settings,
    prepare_to_serve,
)


def demo(config: ConfigOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """The whole arena on this machine: CPU vLLM servers for the demo fleet, then the app.
    Ctrl-C stops everything it started, model servers included."""
    from serving.fleet import CPU_DEMO_FLEET
    from serving.launcher import LaunchError, fleet_down, fleet_up

    settings = load_settings(host, port)
    demo_fleet, run_dir = fleet.load(settings, config or settings.fleet or CPU_DEMO_FLEET)
    prepare_to_serve(settings)  # the key check first: no model server starts to be refused
    typer.echo("starting the model servers (the first run prepares vLLM and the models)…")
    try:
        started = fleet_up(demo_fleet, run_dir=run_dir, tag="demo")
    except LaunchError as exc:
        fail(str(exc))
    try:
        fleet.register(settings, demo_fleet)
        from arena.server import run

        typer.echo(f"\nArena is up: http://{settings.host}:{settings.port}/  (Ctrl-C stops it)\n")
        run(settings)
    finally:
        ours = [name for name, s in started.items() if s.tag == "demo"]
        if ours:
            typer.echo("stopping the model servers…")
            fleet_down(run_dir, only=ours)
