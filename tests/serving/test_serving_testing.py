"""The shared-fleet lease: the last user stops the servers, earlier ones leave them up."""

from __future__ import annotations

import sys
from pathlib import Path

from serving.launcher import check_health, read_state
from serving.process import group_members
from serving.testing import shared_fleet
from serving.threaded import free_port


def write_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fakes.toml"
    path.write_text(
        "[fleet]\n"
        f'gpu_command = ["{sys.executable}", "-m", "serving.fakes"]\n'
        f'run_dir = "{tmp_path / "run"}"\n'
        "[[models]]\n"
        'name = "Fake"\nsource = "org/fake"\nserved_name = "fake"\n'
        f'port = {free_port()}\nprofile = "gpu"\n'
    )
    return path


def test_last_user_stops_the_fleet(tmp_path: Path) -> None:
    path = write_fleet(tmp_path)
    with shared_fleet(path, keep=False) as first:
        endpoint = first.endpoint("Fake")
        pid = first.servers["Fake"].pid
        with shared_fleet(path, keep=False) as second:
            assert second.servers["Fake"].pid == pid  # joined, not restarted
        assert check_health(endpoint.root)  # the first user still holds a lease
    assert not check_health(endpoint.root)
    assert group_members(pid) == []
    assert read_state(tmp_path / "run") == {}


def test_keep_leaves_the_fleet_up(tmp_path: Path) -> None:
    path = write_fleet(tmp_path)
    with shared_fleet(path, keep=True) as fleet:
        pid = fleet.servers["Fake"].pid
    try:
        assert check_health(fleet.endpoint("Fake").root)
        with shared_fleet(path, keep=False) as again:
            assert again.servers["Fake"].pid == pid
    finally:
        assert group_members(pid) == []


def test_servers_started_elsewhere_are_left_alone(tmp_path: Path) -> None:
    from serving.fleet import load_fleet
    from serving.launcher import fleet_down, fleet_up

    path = write_fleet(tmp_path)
    run_dir = tmp_path / "run"
    servers = fleet_up(load_fleet(path), run_dir=run_dir, log=lambda _: None)  # "make demo"
    try:
        with shared_fleet(path, keep=False) as fleet:
            assert fleet.servers["Fake"].pid == servers["Fake"].pid
        assert check_health(fleet.endpoint("Fake").root)
    finally:
        fleet_down(run_dir, log=lambda _: None)
