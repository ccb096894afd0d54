"""A real proxy in front: Kamailio record-routes the caller's INVITE to switchboard, so the
dialog's later requests must come back through it (RFC 3261 §12: the route set)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .sipp import (
    agents_yaml,
    finished,
    free_udp_port,
    options_ok,
    queue_yaml,
    register_agent,
    start_agent,
    start_caller,
    switchboard,
    write_config,
)

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            xlog("L_NOTICE", "proxy: in-dialog $rm $ci loose-routed\\n");
        }}
        t_relay();
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    record_route();
    $du = "sip:127.0.0.1:{switchboard}";
    t_relay();
}}
"""


def test_a_bye_after_a_record_routing_kamailio_goes_back_through_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents_yaml("201") + queue_yaml(
        "    wrapup: 0\n    whisper: {wait_time: false, number_name: false}\n"))
    proxy_port = free_udp_port()
    with switchboard(config) as (port, _proc):
        cfg = tmp_path / "kamailio.cfg"
        cfg.write_text(KAMAILIO_CFG.format(port=proxy_port, switchboard=port))
        proxy = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E",
                                  "-P", str(tmp_path / "kamailio.pid")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        agent = None
        try:
            assert any(options_ok(proxy_port) for _ in range(20)), "kamailio did not start"
            agent_port = free_udp_port()
            agent = start_agent("agent_hangs_up.xml", agent_port, tmp_path / "agent.log",
                                "-m", "1", "-d", "500")
            register_agent("201", port, agent_port)
            # The caller calls the proxy; the agent hangs up; switchboard's BYE to the
            # caller must carry the proxy's Record-Route as its Route and go through it.
            caller = start_caller(proxy_port, "100", "+380671110077", tmp_path / "caller.log",
                                  0, scenario="caller_waits.xml", timeout=20)
            finished(caller, "caller behind the proxy", timeout=25)
            finished(agent, "agent", timeout=10)
        finally:
            for p in (proxy, agent):
                if p is not None and p.poll() is None:
                    p.terminate()
            log = proxy.communicate(timeout=10)[0]
    assert "proxy: in-dialog BYE" in log, log[-3000:]
