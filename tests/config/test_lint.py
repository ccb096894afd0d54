"""Lint (MISSION B5), references and inventory: what a config names must exist and be usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config.check import check_file
from switchboard.config.lint import lint
from switchboard.config.loader import load_with_sources
from switchboard.config.prompts import DEFAULT_PROMPTS

from .conftest import BASE, Check, only, with_steps

# --------------------------------------------------------------------------- clean


def test_base_config_is_clean(check: Check) -> None:
    assert check(BASE)[1] == []


def test_lint_api_returns_problems_sorted_by_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(with_steps("play: greting", "queue: sales") + "prompts: {a: a.wav}\n")
    config, sources = load_with_sources(path)
    problems = lint(config, sources, tmp_path)
    assert [(p.file, p.line) for p in problems] == [(str(path), 12), (str(path), 17)]
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert [p.line for p in lint(config, sources, tmp_path)] == [12]


@pytest.mark.parametrize(
    "example", sorted((Path(__file__).parents[2] / "examples").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_shipped_examples_are_clean(example: Path) -> None:
    assert check_file(example) == []


# --------------------------------------------------------------------------- references


def test_number_with_unknown_scheme(check: Check) -> None:
    name, lines = check(BASE.replace("scheme: main", "scheme: mian"))
    assert only(lines) == f"{name}:3: number '100': unknown scheme 'mian'; did you mean 'main'?"


def test_overflow_to_unknown_scheme(check: Check) -> None:
    name, lines = check(BASE.replace("    scheme: main\n", """\
    scheme: main
    overflow: {action: scheme, scheme: busy}
"""))
    assert only(lines) == (
        f"{name}:4: number '100' overflow: unknown scheme 'busy'; define it under 'schemes:' "
        "or use one of: main"
    )


def test_goto_unknown_scheme(check: Check) -> None:
    name, lines = check(with_steps("goto: night"))
    assert only(lines) == (
        f"{name}:12: scheme 'main' rule 'all' goto: unknown scheme 'night'; define it under "
        "'schemes:' or use one of: main"
    )


@pytest.mark.parametrize(
    ("step", "kind", "section"),
    [
        ("queue: support", "queue", "queues"),
        ("callback: support", "queue", "queues"),
        ("ivr: menu", "ivr", "ivr"),
        ("voicemail: office", "voicemail box", "voicemail"),
        ("add_to_list: whitelist", "list", "lists"),
    ],
)
def test_step_naming_something_undefined(check: Check, step: str, kind: str,
                                         section: str) -> None:
    name, lines = check(with_steps(step))
    line = only(lines)
    assert line.startswith(f"{name}:12: scheme 'main' rule 'all'")
    target = step.split(": ")[1]
    assert f"unknown {kind} '{target}'; " in line
    assert f"'{section}:'" in line


def test_conditions_naming_unknown_lists_and_schedules(check: Check) -> None:
    name, lines = check(BASE.replace("      - name: all\n", """\
      - name: all
        when:
          caller_in: [vip]
          caller_not_in: blocked
          open: office
"""))
    assert lines == [
        f"{name}:12: scheme 'main' rule 'all': unknown list 'vip'; define it under 'lists:'",
        f"{name}:13: scheme 'main' rule 'all': unknown list 'blocked'; define it under 'lists:'",
        f"{name}:14: scheme 'main' rule 'all': unknown schedule 'office'; define it under "
        "'schedules:'",
    ]


def test_agent_and_callback_slots_with_unknown_schedules(check: Check) -> None:
    name, lines = check(BASE.replace('    groups: [sales]\n', """\
    groups: [sales]
    schedule: morning
""") + """\
schedules:
  mornings: {weekly: {mon-fri: 07:00-15:00}}
callback_slots: {schedule: office, queue: sales}
""")
    assert lines == [
        f"{name}:7: agent '201': unknown schedule 'morning'; did you mean 'mornings'?",
        f"{name}:19: callback_slots: unknown schedule 'office'; define it under 'schedules:' "
        "or use one of: mornings",
    ]


def test_unknown_agents_in_members_ring_and_missed(check: Check) -> None:
    text = with_steps("ring: {agents: ['201', '299']}", "queue: sales")
    name, lines = check(text.replace('["201"]', '["201", "202"]') + 'missed: {head_agent: "290"}\n')
    assert lines == [
        f"{name}:12: scheme 'main' rule 'all' ring: unknown agent '299'; define it under "
        "'agents:' or use one of: 201",
        f"{name}:16: queue 'sales': unknown agent '202'; define it under 'agents:' or use one "
        "of: 201",
        f"{name}:17: missed head_agent: unknown agent '290'; define it under 'agents:' or use "
        "one of: 201",
    ]


def test_groups_with_no_agent(check: Check) -> None:
    name, lines = check(with_steps("ring: {groups: [support]}", "queue: sales")
                        + "    groups: [sales, billing]\n")
    assert lines == [
        f"{name}:12: scheme 'main' rule 'all' ring: no agent is in group 'support'; add "
        "'groups: [support]' to an agent or remove the group",
        f"{name}:17: queue 'sales': no agent is in group 'billing'; add 'groups: [billing]' to "
        "an agent or remove the group",
    ]


def test_ring_mobile_of_agent_without_mobile(check: Check) -> None:
    name, lines = check(with_steps("ring: {mobiles: ['201']}"))
    assert only(lines) == (
        f"{name}:12: scheme 'main' rule 'all': agent '201' has no mobile to ring; add "
        "'mobile: +380...' to the agent"
    )


def test_unknown_notification_targets(check: Check) -> None:
    name, lines = check(with_steps("voicemail: office") + """\
voicemail:
  office: {notify: [telegram]}
notify:
  tg: {telegram: {chat_id: "1", bot_token: "0:x"}}
missed:
  notify: [tg, mail]
""")
    assert lines == [
        f"{name}:17: voicemail 'office': unknown notification target 'telegram'; define it "
        "under 'notify:' or use one of: tg",
        f"{name}:21: missed: unknown notification target 'mail'; define it under 'notify:' or "
        "use one of: tg",
    ]


def test_a_notification_target_that_cannot_send_is_a_warning(check: Check) -> None:
    """A Telegram target without its bot token, an e-mail or SMS without 'to': the runtime
    would log every missed call as not sent; check says so first."""
    name, lines = check(BASE + """notify:
  tg: {telegram: {chat_id: "-1001"}}
  mail: {email: {from: pbx@example.com}}
  text: {sms: {to: "+380501234510"}}
""")
    assert lines == [
        f"{name}:17: notification target 'tg': telegram has no bot_token, so nothing is sent "
        "to it; add bot_token",
        f"{name}:18: notification target 'mail': email has no to, so nothing is sent to it; "
        "add to",
    ]


@pytest.mark.parametrize(("target", "message"), [
    ('{telegram: {chat: "1", bot_token: "0:x"}}',
     "unknown key 'chat' in telegram: the keys are chat_id, bot_token"),
    ("{email: {to: a@example.com, smtp: 'mail.example.com:smtp'}}",
     "smtp 'mail.example.com:smtp' must be host:port, like smtp.example.com:587"),
    ("{email: {to: a@example.com, smtp: ':25'}}",
     "smtp ':25' must be host:port, like smtp.example.com:587"),
])
def test_a_misspelt_notification_key_is_refused(check: Check, target: str,
                                               message: str) -> None:
    name, lines = check(BASE + f"notify:\n  tg: {target}\n")
    assert len(lines) == 1 and lines[0].startswith(f"{name}:17: ") and message in lines[0]


def test_a_language_without_prompts_is_refused(check: Check) -> None:
    """'fr' fell back to English prompts in silence; only en, uk and ru have prompts and
    the grammar of spoken numbers."""
    name, lines = check("language: fr\n" + BASE)
    assert lines == [f"{name}:1: language: 'fr' is not allowed; use one of: en, uk, ru"]


def test_trunk_names_inbound_addresses_and_caller_id_are_checked(check: Check) -> None:
    """Two trunks with one name share one resolved address; a name in inbound_from never
    matches a caller's source address (calls from it would be refused as strangers)."""
    name, lines = check(BASE + """\
trunks:
  - {name: provider, host: sip.provider.example, inbound_from: [198.51.100.20, sip.pr.example]}
  - {name: provider, host: 198.51.100.30, caller_id: "+3804412"}
""")
    assert lines == [
        f"{name}:17: trunk 'provider' inbound_from: 'sip.pr.example' is not an IP address, "
        "so no call would come from it; list the addresses the provider calls from (a name goes "
        "in host)",
        f"{name}:18: trunk 'provider' caller_id '+3804412' cannot be a phone number (wrong "
        "length); check the digits and write it in international form (+380...)",
        f"{name}:18: trunk name 'provider' is used twice (first at line 17); give each trunk "
        "its own name",
    ]


def test_an_ivr_without_prompt_or_options_and_adverts_without_prompts_are_warned(
        check: Check) -> None:
    name, lines = check(with_steps("ivr: menu") + """\
    adverts: {prompts: []}
ivr:
  menu: {prompt: [], options: {}, on_timeout: [{queue: sales}]}
""")
    assert lines == [
        f"{name}:16: queue 'sales': adverts with no prompts play nothing; name the "
        "recordings, or remove adverts",
        f"{name}:18: ivr 'menu' has no options: callers can only wait for its timeout; add "
        "options, or use a play step instead",
        f"{name}:18: ivr 'menu' has no prompt: callers hear silence and do not know what to "
        "press; name its recordings",
    ]


def test_webhook_endpoint_is_a_known_name_or_a_url(check: Check) -> None:
    text = with_steps("webhook: router", "webhook: https://crm.example.com/route",
                      "webhook: {endpoint: rooter, timeout: 1}", "queue: sales")
    name, lines = check(text + "webhooks:\n  router: {url: http://127.0.0.1:9000/route}\n")
    assert only(lines) == (
        f"{name}:14: scheme 'main' rule 'all' webhook: unknown endpoint 'rooter'; "
        "did you mean 'router'?"
    )
    name, lines = check(with_steps("webhook: ftp://x", "queue: sales"))
    assert only(lines) == (
        f"{name}:12: scheme 'main' rule 'all' webhook: unknown endpoint 'ftp://x'; define it "
        "under 'webhooks:' or give an http:// or https:// URL"
    )


def test_exit_key_to_unknown_voicemail_box(check: Check) -> None:
    name, lines = check(BASE + """\
    exit_key: {digit: "0", action: voicemail, voicemail: sales_box}
voicemail:
  sales: {}
""")
    assert only(lines) == (
        f"{name}:16: queue 'sales' exit_key: unknown voicemail box 'sales_box'; "
        "did you mean 'sales'?"
    )


def test_callback_queues_of_missed_and_slots(check: Check) -> None:
    name, lines = check(BASE + """\
missed: {auto_callback: true, callback_queue: sale}
callback_slots: {queue: support}
""")
    assert lines == [
        f"{name}:16: missed callback_queue: unknown queue 'sale'; did you mean 'sales'?",
        f"{name}:17: callback_slots: unknown queue 'support'; define it under 'queues:' or use "
        "one of: sales",
    ]


def test_crm_owner_needs_a_crm_section(check: Check) -> None:
    text = with_steps("crm_owner:", "queue: sales")
    name, lines = check(text)
    assert only(lines) == (
        f"{name}:12: scheme 'main' rule 'all': the crm_owner step needs a 'crm:' section (url "
        "of your CRM); add one or remove the step"
    )
    assert check(text + "crm: {url: https://crm.example.com/api}\n")[1] == []


def test_simulated_traffic_on_an_unknown_number(check: Check) -> None:
    name, lines = check(BASE + "simulation:\n  traffic:\n    - {number: 101, calls_per_hour: 5}\n")
    assert only(lines) == (
        f"{name}:18: simulated traffic: unknown number '101'; define it under 'numbers:' or "
        "use one of: 100"
    )


# --------------------------------------------------------------------------- queues, prompts


def test_queue_with_no_agents(check: Check) -> None:
    name, lines = check(BASE.replace('    members: ["201"]\n', "    skills: [english]\n"))
    assert only(lines) == (
        f"{name}:14: queue 'sales' has no agents: add members, or groups or skills that some "
        "agent has"
    )


def test_queue_served_through_groups_or_skills(check: Check) -> None:
    assert check(BASE.replace('    members: ["201"]\n', "    groups: [sales]\n"))[1] == []
    text = BASE.replace("groups: [sales]", "skills: [en, de]").replace(
        '    members: ["201"]\n', "    skills: [en]\n")
    assert check(text)[1] == []


def test_unknown_prompts_everywhere_they_are_used(check: Check) -> None:
    name, lines = check(with_steps("play: [greeting, welcom]", "ivr: menu") + """\
    music: jazz
    adverts: {prompts: [advert, promo]}
ivr:
  menu:
    prompt: [ivr_main, menu_intro]
    invalid_prompt: oops
    options: {1: [{voicemail: box}]}
voicemail:
  box: {greeting: [vm_hello]}
""")
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{name}:12", f"{name}:17", f"{name}:18", f"{name}:21", f"{name}:22", f"{name}:25",
    ]
    assert "unknown prompt 'welcom'; did you mean 'welcome'?" not in lines[0]
    assert lines[0].endswith("unknown prompt 'welcom'; add it under 'prompts:' "
                             "(welcom: file.wav) or use a built-in prompt")
    assert "queue 'sales' music: unknown prompt 'jazz'" in lines[1]
    assert "queue 'sales' adverts: unknown prompt 'promo'" in lines[2]
    assert "ivr 'menu': unknown prompt 'menu_intro'" in lines[3]
    assert "ivr 'menu': unknown prompt 'oops'" in lines[4]
    assert "voicemail 'box' greeting: unknown prompt 'vm_hello'" in lines[5]


def test_misspelt_prompt_gets_a_suggestion(check: Check) -> None:
    name, lines = check(with_steps("play: greting", "queue: sales"))
    assert only(lines) == (
        f"{name}:12: scheme 'main' rule 'all': unknown prompt 'greting'; did you mean 'greeting'?"
    )


def test_prompt_files_are_relative_to_the_config(check: Check, tmp_path: Path) -> None:
    text = with_steps("play: [hello, greeting]", "queue: sales") + """\
prompts:
  hello: sounds/hello.wav
  greeting: /nonexistent/greeting.wav
"""
    name, lines = check(text)
    assert lines == [
        f"{name}:18: prompt 'hello': file 'sounds/hello.wav' not found (looked for "
        f"{tmp_path / 'sounds' / 'hello.wav'}); put the file there or fix the path",
        f"{name}:19: prompt 'greeting': file '/nonexistent/greeting.wav' not found (looked for "
        "/nonexistent/greeting.wav); put the file there or fix the path",
    ]
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "hello.wav").write_bytes(b"RIFF")
    assert check(text.replace("  greeting: /nonexistent/greeting.wav\n", ""))[1] == []


def test_default_prompts() -> None:
    assert len(DEFAULT_PROMPTS) == 17
    assert {"greeting", "queue_position", "queue_eta", "music_on_hold", "whisper_waited",
            "ivr_invalid", "voicemail_greeting", "advert"} <= DEFAULT_PROMPTS


# --------------------------------------------------------------------------- duplicates, phones


def test_number_listed_twice(check: Check) -> None:
    name, lines = check(BASE.replace("agents:\n", '  - {number: "100", scheme: main}\nagents:\n'))
    assert only(lines) == (
        f"{name}:4: number '100' is listed twice (first at line 2); remove one of them"
    )


def test_agents_with_the_same_id(check: Check) -> None:
    name, lines = check(BASE.replace("schemes:\n", '  - {id: 201, name: Copy}\nschemes:\n'))
    assert only(lines) == (
        f"{name}:7: agent id '201' is used twice (first at line 5); give each agent its own id"
    )


def test_mobiles_that_cannot_be_dialed(check: Check) -> None:
    text = BASE.replace("    groups: [sales]\n", '    groups: [sales]\n    mobile: "0501234567"\n')
    name, lines = check(text)
    assert only(lines) == (
        f"{name}:7: agent '201' mobile '0501234567' is not a phone number (Missing or invalid "
        "default region); write it in international form (+380...) or set 'country:' at the top"
    )
    assert check("country: UA\n" + text)[1] == []
    name, lines = check(text.replace("0501234567", "+38050"))
    assert only(lines).startswith(f"{name}:7: agent '201' mobile '+38050' cannot be a phone "
                                  "number (wrong length)")


def test_unknown_country(check: Check) -> None:
    name, lines = check("country: Ukraine\n" + BASE)
    assert only(lines) == (
        f"{name}:1: unknown country 'Ukraine'; use a two-letter ISO 3166-1 code in capitals, "
        "e.g. UA, PL, US"
    )
