"""Bad command-line options stop `switchboard run` and `simulate` with one clear line and
exit code 1 (or Typer's usage error, 2), never a traceback: a port taken or out of range,
a host that is a name or not an address, a data folder that cannot be made, an output file
in a folder that does not exist."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.config.test_cli import console_script

from .ports import free_udp_port as free_port


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script(), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_sip_port_out_of_range_is_a_usage_error(port: str) -> None:
    ran = run("run", "--sip-port", port)
    assert ran.returncode == 2
    assert "Invalid value for '--sip-port'" in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout


@pytest.mark.parametrize("host", ["256.1.1.1", "pbx.example.invalid"])
def test_a_host_that_is_not_an_ip_address_is_refused(host: str) -> None:
    ran = run("run", "--host", host)
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr.startswith(f"--host {host}: give an IP address of this machine")


def test_a_sip_port_in_use_stops_the_start_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", port))
        ran = run("run", "--sip-port", str(port), "--data", str(tmp_path / "data"))
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1].startswith(
        f"switchboard: cannot listen for SIP on 127.0.0.1:{port} (UDP): "), ran.stderr
    assert "Traceback" not in ran.stderr


def test_an_address_not_of_this_machine_stops_the_start(tmp_path: Path) -> None:
    ran = run("run", "--host", "192.0.2.10", "--sip-port", str(free_port()),
              "--data", str(tmp_path / "data"))
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1].startswith(
        "switchboard: cannot listen for SIP on 192.0.2.10:")
    assert "Traceback" not in ran.stderr


def test_a_data_folder_that_is_a_file_or_cannot_be_made_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "recordings.txt"
    a_file.write_text("")
    ran = run("run", "--data", str(a_file))
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"--data {a_file}: not a folder\n"
    under_a_file = a_file / "data"
    ran = run("run", "--data", str(under_a_file))
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr.startswith(f"--data {under_a_file}: cannot create it: ")


def test_simulate_checks_where_it_will_write_before_it_runs(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "kpis.json"
    ran = run("simulate", "--json", str(missing))
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"--json {missing}: the folder {missing.parent} does not exist\n"
    ran = run("simulate", "--report", str(tmp_path))
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"--report {tmp_path}: is a folder; give a file name\n"


def test_simulate_reports_a_file_it_cannot_write_and_exits_1(tmp_path: Path) -> None:
    """/proc takes no new files, even for root: the write itself fails, after the run."""
    good = tmp_path / "kpis.json"
    ran = run("simulate", "--days", "1", "--json", str(good), "--report", "/proc/report.html",
              timeout=180)
    assert ran.returncode == 1
    assert "cannot write the report to /proc/report.html: " in ran.stderr
    assert "Traceback" not in ran.stderr
    assert good.read_text().startswith("{"), "what could be written was written"
