"""Trunks: outbound legs with proxy digest, and our registration at a trunk; each with the
trunk given by address and by name (resolved off the event loop: uvloop refuses names in
``sendto``, and plain asyncio would block on DNS there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .sipp import SCENARIOS, free_udp_port, sipp, start_sipp, switchboard

CONFIG = """
timezone: Europe/Kyiv
country: UA
numbers: [{{number: "100", scheme: main}}]
trunks:
  - name: carrier
    host: {host}
    port: {trunk_port}
    username: trunkuser
    password: trunkpass
    registration: {registration}
    inbound_from: [127.0.0.1]
schemes:
  main:
    rules:
      - name: forward
        steps: [{{ring: {{numbers: ["+380501112233"], timeout: 20}}}}]
"""


def write_config(tmp: Path, trunk_port: int, registration: bool, host: str) -> Path:
    path = tmp / "trunk.yaml"
    path.write_text(CONFIG.format(trunk_port=trunk_port, host=host,
                                  registration="true" if registration else "false"))
    return path


HOSTS = pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])


@HOSTS
def test_a_forwarded_call_answers_the_trunks_digest_challenge_and_is_bridged(
        tmp_path: Path, host: str) -> None:
    trunk_port = free_udp_port()
    trunk = start_sipp("-sf", str(SCENARIOS / "trunk_auth_uas.xml"), "-i", "127.0.0.1",
                       "-p", str(trunk_port), "-m", "1", timeout=40)
    with switchboard(write_config(tmp_path, trunk_port, False, host)) as (port, _proc):
        caller = sipp(f"127.0.0.1:{port}", "-sn", "uac", "-s", "100", "-i", "127.0.0.1",
                      "-p", str(free_udp_port()), "-m", "1", "-d", "1000", timeout=40)
        assert caller.returncode == 0, f"caller: {caller.stdout[-2000:]}\n{caller.stderr}"
        out, err = trunk.communicate(timeout=40)
        assert trunk.returncode == 0, f"trunk: {out[-2000:]}\n{err}"


@HOSTS
def test_switchboard_registers_at_a_trunk_with_digest(tmp_path: Path, host: str) -> None:
    trunk_port = free_udp_port()
    trunk = start_sipp("-sf", str(SCENARIOS / "trunk_register_uas.xml"), "-i", "127.0.0.1",
                       "-p", str(trunk_port), "-m", "1", timeout=30)
    with switchboard(write_config(tmp_path, trunk_port, True, host)):
        out, err = trunk.communicate(timeout=30)
        assert trunk.returncode == 0, f"trunk registrar: {out[-2000:]}\n{err}"
