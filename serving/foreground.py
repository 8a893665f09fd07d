"""One fleet entry's vLLM server in the foreground, for containers and systemd units.

``python -m serving.foreground exec --config FLEET --name NAME`` replaces itself with the
server :func:`serving.launcher.build_launch` gives for that entry, from the prepared runtime
(and prepared model, for ``pypi:`` sources), so a unit file or a compose service names the
fleet entry instead of repeating vLLM's flags. ``argv`` prints that command line instead.
A missing runtime is one line naming the command to run, exit status 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from serving import launcher
from serving import prepare as prep
from serving.fleet import Fleet, FleetError, load_fleet


def entry_launch(fleet: Fleet, name: str) -> launcher.LaunchSpec:
    """The launch of one fleet entry from the prepared runtime and model, without starting it."""
    try:
        entry = fleet.get(name)
    except KeyError:
        raise launcher.LaunchError(f"no model {name!r} in the fleet") from None
    runtime = launcher.fleet_runtimes(fleet, [entry], prepare=False).get(entry.profile)
    model_path = prep.model_dir(entry.package, entry.slug) if entry.package else None
    return launcher.build_launch(
        entry, runtime_python=runtime, model_path=model_path, gpu_command=fleet.options.gpu_command
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serving.foreground exec|argv --config FLEET --name NAME``.

    ``exec`` replaces this process with the entry's vLLM server (PID 1 of a container or a
    systemd service gets the signals itself); ``argv`` prints its environment and command.
    """
    parser = argparse.ArgumentParser(prog="python -m serving.foreground")
    parser.add_argument("what", choices=["exec", "argv"])
    parser.add_argument("--config", required=True, type=Path, help="fleet file (TOML)")
    parser.add_argument("--name", required=True, help="the model's name or served name")
    args = parser.parse_args(argv)
    try:
        spec = entry_launch(load_fleet(args.config), args.name)
    except (FleetError, launcher.LaunchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.what == "argv":
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(spec.env.items()))
        print(f"{env} {shlex.join(spec.argv)}")
        return 0
    # Replaced, not a child: signals reach vLLM, and its exit status is the service's.
    os.execvpe(spec.argv[0], list(spec.argv), {**os.environ, **spec.env})  # noqa: S606


if __name__ == "__main__":
    raise SystemExit(main())
