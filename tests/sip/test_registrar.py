"""The registrar (RFC 3261 §10.3): expiry, several contacts, un-register, order, NAT source."""

from __future__ import annotations

from switchboard.sip.message import Request, parse
from switchboard.sip.registrar import Reachability, Registrar

SRC = ("127.0.0.1", 40001)


def register(contact: str, expires: str | None = None, cseq: int = 1, call_id: str = "reg-1",
             user: str = "201") -> Request:
    text = (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK-r;rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@127.0.0.1>;tag=ph\r\n"
        f"To: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: {contact}\r\n"
        + (f"Expires: {expires}\r\n" if expires is not None else "")
        + "Content-Length: 0\r\n\r\n"
    )
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


def test_register_binds_reports_reachable_and_lists_the_contact_with_its_expiry() -> None:
    reg = Registrar({"201", "202"})
    response, changes = reg.register(register("<sip:201@192.168.1.5:5060>", "600"), SRC, "UDP",
                                     1000.0, "t1")
    assert response.status == 200
    assert changes == [Reachability("201", True)]
    assert response.headers.get_all("Contact") == ("<sip:201@192.168.1.5:5060>;expires=600",)
    (binding,) = reg.contacts("201", 1000.0)
    assert binding.source == SRC and binding.expires_at == 1600.0


def test_bindings_expire_and_the_account_becomes_unreachable() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@192.168.1.5>", "120"), SRC, "UDP", 0.0, "t")
    assert reg.next_expiry() == 120.0
    assert reg.expire(119.9) == []
    assert reg.expire(120.0) == [Reachability("201", False)]
    assert reg.contacts("201", 120.0) == [] and reg.next_expiry() is None


def test_several_contacts_per_account_and_unregister_one_then_all() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1>", "300"), SRC, "UDP", 0.0, "t")
    reg.register(register("<sip:201@10.0.0.2>", "300", call_id="reg-2"), SRC, "UDP", 1.0, "t")
    assert len(reg.contacts("201", 2.0)) == 2
    response, changes = reg.register(register("<sip:201@10.0.0.1>;expires=0", cseq=2), SRC, "UDP",
                                     3.0, "t")
    assert response.status == 200 and changes == []
    assert [str(b.contact.uri) for b in reg.contacts("201", 3.0)] == ["sip:201@10.0.0.2"]
    response, changes = reg.register(register("*", "0", cseq=5, call_id="reg-2"), SRC, "UDP",
                                     4.0, "t")
    assert response.status == 200 and changes == [Reachability("201", False)]


def test_too_brief_unknown_and_out_of_order_are_refused() -> None:
    reg = Registrar({"201"})
    response, _ = reg.register(register("<sip:201@10.0.0.1>", "10"), SRC, "UDP", 0.0, "t")
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"
    response, _ = reg.register(register("<sip:299@10.0.0.1>", user="299"), SRC, "UDP", 0.0, "t")
    assert response.status == 404
    reg.register(register("<sip:201@10.0.0.1>", "300", cseq=7), SRC, "UDP", 0.0, "t")
    response, _ = reg.register(register("<sip:201@10.0.0.1>", "0", cseq=6), SRC, "UDP", 1.0, "t")
    assert response.status == 500
    assert len(reg.contacts("201", 1.0)) == 1, "the late REGISTER did not undo the newer one"


def test_expires_is_capped_at_the_maximum() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1>", "999999"), SRC, "UDP", 0.0, "t")
    assert reg.contacts("201", 0.0)[0].expires_at == 3600.0


def test_a_phone_at_a_new_contact_replaces_its_old_one() -> None:
    """A softphone whose local port changed (a NAT rebinding, a restart of its transport)
    re-registers with the same Call-ID and a new contact: the old contact is stale. Kept,
    every call would also ring a port nobody listens on, for up to an hour."""
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1:5060>", "600"), SRC, "UDP", 0.0, "t")
    response, changes = reg.register(register("<sip:201@10.0.0.1:5062>", "600", cseq=2), SRC,
                                     "UDP", 10.0, "t")
    assert response.status == 200 and changes == []
    assert [str(b.contact.uri) for b in reg.contacts("201", 10.0)] == ["sip:201@10.0.0.1:5062"]
    assert response.headers.get_all("Contact") == ("<sip:201@10.0.0.1:5062>;expires=600",)


def test_another_phone_of_the_same_account_is_kept() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1>", "600"), SRC, "UDP", 0.0, "t")
    reg.register(register("<sip:201@10.0.0.2>", "600", call_id="desk"), SRC, "UDP", 1.0, "t")
    reg.register(register("<sip:201@10.0.0.1>", "600", cseq=2), SRC, "UDP", 2.0, "t")  # refresh
    assert {str(b.contact.uri) for b in reg.contacts("201", 3.0)} == {
        "sip:201@10.0.0.1", "sip:201@10.0.0.2"}


def test_contacts_per_account_are_capped_dropping_those_closest_to_expiry() -> None:
    reg = Registrar({"201"}, max_contacts=3)
    for n in range(3):
        reg.register(register(f"<sip:201@10.0.0.{n}>", str(600 + n), call_id=f"p{n}"), SRC,
                     "UDP", 0.0, "t")
    response, _ = reg.register(register("<sip:201@10.0.0.9>", "300", call_id="p9"), SRC, "UDP",
                               0.0, "t")
    assert response.status == 200
    # 10.0.0.0 expired soonest (600 s): it goes; the new one stays though it expires sooner.
    assert sorted(str(b.contact.uri) for b in reg.contacts("201", 1.0)) == [
        "sip:201@10.0.0.1", "sip:201@10.0.0.2", "sip:201@10.0.0.9"]
    too_many = ", ".join(f"<sip:201@10.0.1.{n}>" for n in range(4))
    response, changes = reg.register(register(too_many, "600", call_id="bulk"), SRC, "UDP",
                                     2.0, "t")
    assert (response.status, response.reason, changes) == (403, "Too many contacts", [])
    assert len(reg.contacts("201", 2.0)) == 3


def test_a_phone_not_answering_options_is_not_rung_and_the_account_goes_with_its_last() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1>", "300"), SRC, "UDP", 0.0, "t")
    reg.register(register("<sip:201@10.0.0.2>", "300", call_id="reg-2"), SRC, "UDP", 1.0, "t")
    assert reg.mark("201", "sip:201@10.0.0.1", False, 2.0) == [], "10.0.0.2 still answers"
    assert [str(b.contact.uri) for b in reg.reachable_contacts("201", 2.0)] == ["sip:201@10.0.0.2"]
    assert len(reg.contacts("201", 2.0)) == 2, "still registered (the 200 lists both)"
    assert reg.mark("201", "sip:201@10.0.0.2", False, 3.0) == [Reachability("201", False)]
    assert reg.mark("201", "sip:201@10.0.0.2", False, 4.0) == [], "told once"
    assert reg.reachable_contacts("201", 4.0) == []
    assert reg.mark("201", "sip:201@10.0.0.1", True, 5.0) == [Reachability("201", True)]
    assert reg.mark("201", "sip:201@10.0.0.9", False, 6.0) == [], "no such binding"
    assert reg.mark("202", "sip:202@10.0.0.1", True, 6.0) == []


def test_registering_again_clears_the_mark_and_expiry_does_not_report_twice() -> None:
    reg = Registrar({"201"})
    reg.register(register("<sip:201@10.0.0.1>", "120"), SRC, "UDP", 0.0, "t")
    assert reg.mark("201", "sip:201@10.0.0.1", False, 1.0) == [Reachability("201", False)]
    _, changes = reg.register(register("<sip:201@10.0.0.1>", "120", cseq=2), SRC, "UDP", 2.0, "t")
    assert changes == [Reachability("201", True)]
    assert len(reg.reachable_contacts("201", 2.0)) == 1
    assert reg.mark("201", "sip:201@10.0.0.1", False, 3.0) == [Reachability("201", False)]
    assert reg.expire(122.0) == [], "unreachable already: no second report"
    assert reg.all_contacts(122.0) == []
    # Registered afresh after expiry, the old mark is gone with the old binding.
    _, changes = reg.register(register("<sip:201@10.0.0.1>", "120", call_id="new"), SRC, "UDP",
                              130.0, "t")
    assert changes == [Reachability("201", True)]
