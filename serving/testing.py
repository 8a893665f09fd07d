"""Real vLLM servers for tests, shared by every test session on this machine.

:func:`shared_fleet` brings a fleet (default: ``fleets/cpu-demo.toml``) up once and hands
out its endpoints. Several processes may use it at once (serving, battle and e2e test runs
in one checkout): each holds a shared ``flock`` lease while it uses the servers, and the
last one to leave stops the servers that a lease holder started (unless
``ARENA_KEEP_VLLM=1``, which leaves them up so the next session starts at once); servers
that were already running, e.g. those of ``make demo``, are used and left alone. A process
that dies drops its lease with it. A pytest
session fixture is three lines::

    @pytest.fixture(scope="session")
    def vllm_fleet() -> Iterator[RunningFleet]:
        with shared_fleet() as fleet:
            yield fleet
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.client import Endpoint
from serving.fleet import CPU_DEMO_FLEET, Fleet, ModelEntry, load_fleet
from serving.launcher import ServerState, default_run_dir, fleet_down, fleet_up, read_state

LEASE_TAG = "shared-fleet"


@dataclass(frozen=True)
class RunningFleet:
    fleet: Fleet
    run_dir: Path
    servers: dict[str, ServerState]

    def entry(self, name: str) -> ModelEntry:
        return self.fleet.get(name)

    def endpoint(self, name: str) -> Endpoint:
        """Endpoint by display name or served name."""
        entry = self.fleet.get(name)
        return Endpoint(entry.base_url, entry.served_name)

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return {entry.name: self.endpoint(entry.name) for entry in self.fleet.models}


@contextlib.contextmanager
def shared_fleet(
    path: str | Path = CPU_DEMO_FLEET,
    *,
    run_dir: Path | None = None,
    keep: bool | None = None,
) -> Iterator[RunningFleet]:
    """Start (or join) the fleet at ``path``; stop it when the last user leaves."""
    fleet = load_fleet(path)
    run_dir = run_dir or default_run_dir(fleet)
    if keep is None:
        keep = os.environ.get("ARENA_KEEP_VLLM", "") not in ("", "0")
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "lease.lock").open("a") as lease:
        # Blocks while a last user is stopping the fleet; then we start it again.
        fcntl.flock(lease.fileno(), fcntl.LOCK_SH)
        try:
            servers = fleet_up(fleet, run_dir=run_dir, tag=LEASE_TAG)
            yield RunningFleet(fleet, run_dir, servers)
        finally:
            if not keep:
                try:
                    # Upgrade to exclusive only if nobody else holds a lease right now.
                    fcntl.flock(lease.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    ours = [n for n, s in read_state(run_dir).items() if s.tag == LEASE_TAG]
                    fleet_down(run_dir, only=ours)
            fcntl.flock(lease.fileno(), fcntl.LOCK_UN)
