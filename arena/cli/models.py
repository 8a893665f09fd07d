"""`arena models`: model endpoints registered by the operator."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli.common import (
    JsonOption,
    License,
    choice,
    database,
    echo_json,
    fail,
    load_settings,
    session,
)

app = typer.Typer(no_args_is_help=True, help="Model endpoints (operator).")


@app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Display name, revealed after the vote.")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible base URL (…/v1).")],
    api_model: Annotated[str, typer.Option(help="Model name the server expects.")],
    license: Annotated[
        License, typer.Option(parser=choice(License, "--license"), help="Licence of the weights.")
    ] = "open",
    organization: Annotated[str, typer.Option(help="Who made the model.")] = "",
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option(help="Name that identifies the model in answers.")
    ] = None,
    parameters: Annotated[
        int | None,
        typer.Option(min=1, help="Parameter count of the weights (shown on the board)."),
    ] = None,
) -> None:
    """Register an operator endpoint; it is approved at once and probed."""
    from arena.db import make_sessionmaker, session_scope
    from arena.models import probing, service
    from arena.models.errors import ModelError

    settings = load_settings()
    spec = service.OperatorModel(
        name=name,
        base_url=base_url,
        api_model=api_model,
        license=license,
        organization=organization,
        api_key_env=api_key_env,
        aliases=alias or [],
        parameters=parameters,
    )
    with database(settings) as engine:
        try:
            with session_scope(make_sessionmaker(engine)) as s:
                model_id = service.add_operator_model(s, spec).id
        except ModelError as exc:
            fail(str(exc))
        typer.echo(f"added model {name!r} (id {model_id}), approved")
        report = probing.probe_now(settings, engine, model_id)
        typer.echo(f"health: {'ok' if report.ok else 'failing'} ({report.detail})")


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List registered model endpoints."""
    from arena.models import service

    with session(load_settings()) as s:
        rows = [service.describe(m) for m in service.list_models(s)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no models registered")
        return
    for r in rows:
        health = "healthy" if r["healthy"] else "unhealthy"
        typer.echo(
            f"{r['id']:>4}  {r['name']:<32} {r['status']:<10} {health:<9} "
            f"{r['organization'] or '-':<20} {r['license']:<11} {r['base_url']}"
        )
