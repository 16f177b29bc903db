"""The personal-data guard's rules, table-driven: what it finds, and what a service desk writes that it must not."""

from __future__ import annotations

import pytest

from bridge.core.privacy import EMAIL, IBAN, PHONE, Review, find_personal_data, forced, iban_valid, review, strip_force
from bridge.core.settings import PrivacySection, Settings

DE = PrivacySection()

FOUND = [
    # phone numbers, national (phone_regions = ["DE"]) and international
    ("Call us back at 0228 1234567?", PHONE, "0228 1234567"),
    ("Handy: 0171 2345678", PHONE, "0171 2345678"),
    ("0171 234 56 78 is what we have", PHONE, "0171 234 56 78"),
    ("we have 0171-2345678 on file", PHONE, "0171-2345678"),
    ("we have 01712345678 on file", PHONE, "01712345678"),
    ("030/1234567", PHONE, "030/1234567"),
    ("+49 171 2345678", PHONE, "+49 171 2345678"),
    ("+49 (0)30 12345678", PHONE, "+49 (0)30 12345678"),
    ("reach her on +44 20 7946 0958", PHONE, "+44 20 7946 0958"),
    ("or +1 415 555 2671", PHONE, "+1 415 555 2671"),
    # e-mail addresses
    ("Mail klaus.kunde@t-online.de please", EMAIL, "klaus.kunde@t-online.de"),
    ("K.Kunde+xdesk@mail.example.co.uk.", EMAIL, "K.Kunde+xdesk@mail.example.co.uk"),
    # IBANs: printed in groups, compact, lower case; a word after it is not part of it
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", IBAN, "DE89 3704 0044 0532 0130 00"),
    ("DE89370400440532013000", IBAN, "DE89370400440532013000"),
    ("de89 3704 0044 0532 0130 00", IBAN, "de89 3704 0044 0532 0130 00"),
    ("GB82 WEST 1234 5698 7654 32", IBAN, "GB82 WEST 1234 5698 7654 32"),
    ("paid from AT61 1904 3002 3457 3201.", IBAN, "AT61 1904 3002 3457 3201"),
]


@pytest.mark.parametrize(("text", "kind", "found"), FOUND)
def test_personal_data_is_found(text: str, kind: str, found: str) -> None:
    assert [(h.kind, h.text) for h in find_personal_data(text, DE)] == [(kind, found)]


NOT_PERSONAL = [
    "Your order 12345678901 ships tomorrow",
    "Auftragsnummer 4711-0815",
    "Ticket #123456, Vertrag 500123456",
    "Hi, case 1644: please restart the router",  # four digits read as a German pager number
    "Ticket 1681 is closed, see step 7",
    "Rechnung 123456789012 is paid",
    "It costs 19,99 € a month",
    "Preis 1.299,00 € or 39.95 EUR/month",
    "Fixed on 12.03.2024 at 14:30",
    "from 2024-03-12, version 10.3.1",
    "We're here 24/7",
    "Open 08:00-20:00, Mo-Fr",
    "DHL JJD000390007827434",
    "Hermes 12345678901234",
    "UPS 1Z999AA10123456784",
    "DHL 00340434161234567890",
    "See https://x.com/Telekom_hilft/status/1790000000000000001",
    "See https://www.telekom.de/hilfe/02281234567",
    "@Telekom_hilft @kunde_klaus thanks!",
    "Ask @Telekom_hilft or #TelekomHilft",
    "250/40 Mbit, 16000 kbit/s, 5G 3600 MHz",
    "Router at 192.168.178.1",
    "1/2 ^AN",
    "Our hotline 0800 330 1000 is free",  # a business's service numbers are not personal data
    "or 0180 5 123456",
    "DE89 3704 0044 0532 0130 01",  # one digit off: the mod-97 check fails
    "DE89 3704 0044 0532 0130",  # too short for a German IBAN
]


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_what_a_service_desk_writes_every_day_is_not_personal_data(text: str) -> None:
    assert find_personal_data(text, DE) == []


def test_phone_regions_decide_which_national_numbers_count() -> None:
    london = "Call her on 020 7946 0958"
    assert find_personal_data(london, DE) == []
    assert [h.kind for h in find_personal_data(london, PrivacySection(phone_regions=["DE", "GB"]))] == [PHONE]
    # With no region only numbers with a country code count.
    none = PrivacySection(phone_regions=[])
    assert find_personal_data("0171 2345678", none) == []
    assert [h.kind for h in find_personal_data("+49 171 2345678", none)] == [PHONE]


def test_admin_patterns_are_found_by_their_name() -> None:
    privacy = PrivacySection(patterns={"customer number": r"\bKD-\d{6}\b"})
    [hit] = find_personal_data("Your account KD-123456 is fine", privacy)
    assert (hit.kind, hit.text) == ("customer number", "KD-123456")


def test_digits_of_an_email_or_iban_are_not_also_a_phone_number() -> None:
    hits = find_personal_data("01712345678@t-online.de", DE)
    assert [h.kind for h in hits] == [EMAIL]


@pytest.mark.parametrize(("text", "masked"), [
    ("0171 234 56 78", "01•• ••• •• 78"),
    ("klaus@t-online.de", "kl•••@•-••••••.de"),
    ("KD-1", "K•-1"),
])
def test_the_agent_sees_the_hit_partly_masked(text: str, masked: str) -> None:
    [hit] = find_personal_data(text, PrivacySection(patterns={"customer number": r"KD-\d"}))
    assert hit.masked == masked


@pytest.mark.parametrize(("iban", "valid"), [
    ("DE89370400440532013000", True),
    ("NO9386011117947", True),  # the shortest
    ("DE89370400440532013001", False),
    ("XX89370400440532013000", False),
])
def test_iban_check(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(("prefix", "text", "is_forced", "stripped"), [
    ("!public", "!public Call 0171 2345678", True, "Call 0171 2345678"),
    ("!public", "  !PUBLIC   Call", True, "Call"),
    ("!public", "Call !public", False, "Call !public"),
    ("!public", "!publicity 0171 2345678", False, "!publicity 0171 2345678"),
    ("!public", "!public: call", True, "call"),
    ("", "!public Call", False, "!public Call"),
])
def test_the_force_prefix(prefix: str, text: str, is_forced: bool, stripped: str) -> None:
    privacy = PrivacySection(force_prefix=prefix)
    assert forced(text, privacy) is is_forced
    assert strip_force(text, privacy) == stripped


def _settings(**privacy: object) -> Settings:
    return Settings(slack={"default_channel": "C0GENERAL1"}, privacy=privacy)  # type: ignore[arg-type]


def test_review_says_what_was_found_and_how_to_send_it_privately() -> None:
    got = review("Mail <mailto:k@example.de|k@example.de> or call 0171 2345678", _settings())
    assert got.message is not None and not got.forced
    assert "your reply contains an e-mail address (k@" in got.message  # Slack text: the @ pings nobody
    assert "•••••••.de) and a phone number (01•• •••••78), and personal data is never tweeted" in got.message
    assert ":envelope:" not in got.message and "direct message" in got.message  # the desk reads no DMs
    assert "`!public`" in got.message
    assert got.kinds == "e-mail address,phone number"
    with_dms = Settings(slack={"default_channel": "C0GENERAL1"}, dm={"enabled": True})  # type: ignore[arg-type]
    assert ":envelope:" in (review("call 0171 2345678", with_dms).message or "")


def test_review_of_a_forced_or_unguarded_or_clean_reply() -> None:
    forced_review = review("!public call 0171 2345678", _settings())
    assert (forced_review.message, forced_review.forced, forced_review.kinds) == (None, True, "phone number")
    assert review("call 0171 2345678", _settings(guard=False)).message is None
    assert review("Restart the router, please.", _settings()) == Review((), False, None)
    nobody = review("!public call 0171 2345678", _settings(force_prefix=""))
    assert nobody.message is not None and "anyway" not in nobody.message and "!public" not in nobody.message
