"""X's contract for the emulator's spec tests: the OpenAPI 2.162 schemas, a signed client, an emulator.

Requests are signed with OAuth 1.0a for the canonical https://api.twitter.com URL and then sent to the
emulator, exactly as tweepy plus the bridge's rewriting adapter do. the tests beside this
file import what they use from here; their fixtures are in ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

import requests
from jsonschema import Draft4Validator
from referencing import Registry
from requests_oauthlib import OAuth1

from bridge.sandbox.x.server import XEmulator
from bridge.x.client import FIELDS
from tests.reference import reference

OPENAPI = reference("x-api-v2-openapi-2.162.json")
CANONICAL = "https://api.twitter.com"
KEYS = {"consumer_key": "ck-3nVuSoBZnx6U4vzUxf5w", "consumer_secret": "cs-Bcs59EFbbsdF6Sl9Ng71smgSt",
        "access_token": "1000000001-at-0U2L7Z9lAmYf", "access_token_secret": "ats-gtHh7bE9kZ0WyXq4PZfX"}
BRIDGE_FIELDS = {name: ",".join(values) for name, values in FIELDS.items()}  # what XClient asks for



# -- the contract --------------------------------------------------------------------------------


def schemas(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"]


def check(registry: Registry, spec: dict[str, Any], name: str, body: Any) -> None:
    """Valid against ``name``; every Problem and Media against its discriminated subtype; and no key
    that the schema does not know (the schemas allow extra keys, X's answers have none)."""
    validate(registry, name, body)
    for item in body.get("errors", []) if isinstance(body, dict) else []:
        check_problem(registry, spec, item)
    for media in (body.get("includes") or {}).get("media", []):
        mapping = schemas(spec)["Media"]["discriminator"]["mapping"]
        validate(registry, mapping[media["type"]].rsplit("/", 1)[1], media)
    assert_known_keys(spec, name, body)


def check_problem(registry: Registry, spec: dict[str, Any], body: dict[str, Any]) -> None:
    validate(registry, "Problem", body)
    subtype = schemas(spec)["Problem"]["discriminator"]["mapping"][body["type"]].rsplit("/", 1)[1]
    validate(registry, subtype, body)


def validate(registry: Registry, name: str, body: Any) -> None:
    validator = Draft4Validator({"$ref": f"urn:x-openapi#/components/schemas/{name}"}, registry=registry)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{name}: {errors}"


def assert_known_keys(spec: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    s = schemas(spec)
    media_keys = set(s["Media"]["properties"]).union(
        *(s[k]["allOf"][1]["properties"] for k in ("Photo", "Video", "AnimatedGif")))
    assert set(body) <= set(s[name]["properties"]), set(body) - set(s[name]["properties"])
    data = body.get("data")
    tweets = list(data) if isinstance(data, list) else [data] if isinstance(data, dict) and "text" in data else []
    tweets += (body.get("includes") or {}).get("tweets", [])  # a copy: body["data"] stays as X sent it
    for tweet in tweets:
        assert set(tweet) <= set(s["Tweet"]["properties"]), set(tweet) - set(s["Tweet"]["properties"])
    users = (body.get("includes") or {}).get("users", []) + ([data] if name == "Get2UsersMeResponse" else [])
    for user in users:
        assert set(user) <= set(s["User"]["properties"]), set(user) - set(s["User"]["properties"])
    for media in (body.get("includes") or {}).get("media", []):
        assert set(media) <= media_keys
    if "meta" in body:
        assert set(body["meta"]) <= set(s[name]["properties"]["meta"]["properties"])


# -- an emulator and a signed client ---------------------------------------------------------------


def signed(emu: XEmulator, method: str, path: str, *, params: dict[str, str] | None = None,
           body: dict[str, Any] | None = None, secret: str | None = None, timeout: float = 5,
           ) -> requests.Response:
    """Sign for the emulator's URL, the one the request goes to, as the bridge does, and send it."""
    auth = OAuth1(emu.consumer_key, emu.consumer_secret, emu.access_token, secret or emu.access_token_secret)
    request = requests.Request(method, emu.url + path, params=params, json=body, auth=auth).prepare()
    return send(emu, request, timeout)


def send(emu: XEmulator, request: requests.PreparedRequest, timeout: float = 5) -> requests.Response:
    with requests.Session() as session:
        return session.send(request, timeout=timeout)


def rate_headers(response: requests.Response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["x-rate-limit-limit"]), int(h["x-rate-limit-remaining"]), int(h["x-rate-limit-reset"])
