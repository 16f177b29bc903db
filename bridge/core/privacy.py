"""The personal-data guard: phone numbers, e-mail addresses, IBANs and admin patterns in a reply.

A public reply must never carry a customer's personal data. :func:`refusal` is the one check a
feature calls before tweeting an agent's text (DM replies are private and skip it); :func:`strip_force`
takes off the prefix with which an agent tweets a reply despite a hit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberType
from twitter_text.extract_urls import extract_urls_with_indices

from bridge.core.mrkdwn import escape_mrkdwn
from bridge.core.settings import PrivacySection, Settings
from bridge.core.tweet_text import slack_to_plain

PHONE, EMAIL, IBAN = "phone number", "e-mail address", "IBAN"


@dataclass(frozen=True)
class Hit:
    """One piece of personal data in a text: its kind in words and where it is."""

    kind: str
    text: str
    start: int
    end: int

    @property
    def masked(self) -> str:
        """The text with all but a few characters hidden: enough for the agent to find it."""
        text = self.text
        keep = 2 if len(text) > 6 else 1 if len(text) > 2 else 0
        middle = "".join("•" if c.isalnum() else c for c in text[keep:len(text) - keep])
        return text[:keep] + middle + text[len(text) - keep:]


# -- phone numbers ----------------------------------------------------------------------------------
# VALID leniency: the digits must form a number the region's plan allows, so order numbers, dates,
# times, prices and "24/7" do not count (POSSIBLE matches all of those). STRICT_GROUPING would miss
# "0171 234 56 78", the common German way of writing a mobile number.
# https://github.com/daviddrysdale/python-phonenumbers/blob/dev/python/phonenumbers/phonenumbermatcher.py
#
# Service numbers (0800 free phone, 0180 shared cost, 0900 premium, UAN) are a business's, never a
# person's: the brand's own hotline in a reply is not personal data.
# The shortest number that can reach a person: a German area code and subscriber number have at least
# six digits together. Shorter digit runs are case, ticket and order numbers.
MIN_PHONE_DIGITS = 6
_BUSINESS = {PhoneNumberType.TOLL_FREE, PhoneNumberType.SHARED_COST, PhoneNumberType.PREMIUM_RATE,
             PhoneNumberType.UAN}


def _phones(text: str, regions: list[str]) -> list[Hit]:
    links = [(u["indices"][0], u["indices"][1]) for u in extract_urls_with_indices(text)]
    hits: dict[int, Hit] = {}
    # "ZZ" (no region) still finds numbers written with +country code.
    for region in regions or ["ZZ"]:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
            if phonenumbers.number_type(match.number) in _BUSINESS:
                continue
            if sum(c.isdigit() for c in match.raw_string) < MIN_PHONE_DIGITS:
                continue  # "case 1644": phonenumbers takes four digits for a German pager number
            if any(a <= match.start < b for a, b in links):  # a number in a link is an id, not a phone
                continue
            hits.setdefault(match.start, Hit(PHONE, match.raw_string, match.start, match.end))
    return list(hits.values())


# -- e-mail addresses -------------------------------------------------------------------------------
# A local part right before "@" (so an @handle, with nothing before its "@", is not one) and a dotted
# domain ending in a top-level domain of letters.
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")


def _emails(text: str) -> list[Hit]:
    return [Hit(EMAIL, m[0], m.start(), m.end()) for m in _EMAIL.finditer(text)]


# -- IBANs ------------------------------------------------------------------------------------------
# ISO 13616: country code, two check digits, then the national account number, printed in groups of
# four. Lengths per country from the SWIFT IBAN registry:
# https://www.swift.com/standards/data-standards/iban-international-bank-account-number
_IBAN_LENGTHS = {m[1]: int(m[2]) for m in re.finditer(r"([A-Z]{2})(\d\d)", (
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28 "
        "EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 "
        "JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 "
        "NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 "
        "TL23 TN24 TR26 UA29 VA22 VG24 XK20"
))}
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}", re.ASCII)


def iban_valid(candidate: str) -> bool:
    """The mod-97 check of ISO 13616 (and the country's length, where the registry knows it)."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or _IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _ibans(text: str) -> list[Hit]:
    hits = []
    for m in _IBAN.finditer(text):
        # A greedy match may have eaten the word after the IBAN ("... 3000 thanks"): the longest
        # valid prefix wins.
        raw = m[0]
        while raw and not iban_valid(raw):
            raw = raw[:-1].rstrip()
        if raw:
            hits.append(Hit(IBAN, raw, m.start(), m.start() + len(raw)))
    return hits


# -- the guard --------------------------------------------------------------------------------------


def find_personal_data(text: str, privacy: PrivacySection) -> list[Hit]:
    """Every piece of personal data in ``text`` (plain text, as it would be tweeted), in text order."""
    strong = _emails(text) + _ibans(text)
    phones = [p for p in _phones(text, privacy.phone_regions)
              if not any(s.start < p.end and p.start < s.end for s in strong)]  # digits of an IBAN or address
    custom = [Hit(name, m[0], m.start(), m.end())
              for name, pattern in privacy.patterns.items() for m in re.finditer(pattern, text) if m[0]]
    return sorted(strong + phones + custom, key=lambda h: (h.start, h.kind))


def forced(text: str, privacy: PrivacySection) -> bool:
    """Whether the agent's message starts with the force prefix (case-insensitive, after spaces)."""
    prefix = privacy.force_prefix.strip().casefold()
    head = text.lstrip().casefold()
    if not prefix or not head.startswith(prefix):
        return False
    after = head[len(prefix):len(prefix) + 1]
    return not (after.isalnum() and prefix[-1].isalnum())  # "!publicity" is a word, not "!public"


def strip_force(text: str, privacy: PrivacySection) -> str:
    """``text`` without the force prefix: what is tweeted of a forced reply. Unforced: unchanged."""
    if not forced(text, privacy):
        return text
    return text.lstrip()[len(privacy.force_prefix.strip()):].lstrip().removeprefix(":").lstrip()  # "!public: hi"


def plain_reply(text: str, privacy: PrivacySection) -> str:
    """What is tweeted of an agent's Slack message: without the force prefix, as plain text."""
    return slack_to_plain(strip_force(text, privacy))


def describe(hits: Sequence[Hit]) -> str:
    """``a phone number (01•• •••••78) and an e-mail address (kl•••@•••••.de)``, as Slack text."""
    said = [f"{'an' if h.kind[:1].lower() in 'aeiou' else 'a'} {escape_mrkdwn(h.kind)} ({escape_mrkdwn(h.masked)})"
            for h in hits]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


@dataclass(frozen=True)
class Review:
    """The guard's verdict on one reply: what it found, and whether the agent forced it out."""

    hits: tuple[Hit, ...]
    forced: bool
    message: str | None  # what to tell the agent when the reply is blocked; None: it may be tweeted

    @property
    def kinds(self) -> str:
        """The kinds found, for logs: never the data itself."""
        return ",".join(dict.fromkeys(h.kind for h in self.hits))


def review(text: str, settings: Settings) -> Review:
    """The guard on an agent's message as typed in Slack (a public reply; DMs are not checked)."""
    privacy = settings.privacy
    if not privacy.guard:
        return Review((), False, None)
    hits = tuple(find_personal_data(plain_reply(text, privacy), privacy))
    if not hits or forced(text, privacy):
        return Review(hits, bool(hits), None)
    if settings.dm.enabled:
        how = f"Ask the customer to send a DM instead: react :{settings.emoji.ask_dm}: on the case's first message."
    else:  # the ask-for-a-DM reaction only works when the desk reads DMs
        how = "Ask the customer to send it by direct message or through your other private channels instead."
    if prefix := privacy.force_prefix.strip():
        how += f" Or start your message with `{prefix}` to tweet it anyway."
    return Review(hits, False, f"Not tweeted: your reply contains {describe(hits)}, and personal data is "
                  f"never tweeted. {how}")


def refusal(text: str, settings: Settings) -> str | None:
    """What to tell the agent when ``text`` must not be tweeted publicly; None when it may be."""
    return review(text, settings).message
