"""Verifier comparison against values a PostgreSQL 15 server stored itself."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._pg_verifier import (
    md5_verifier,
    password_matches,
    saslprep,
    scram_verifier,
    verifier_kind,
)

# rolpassword values read from pg_authid after CREATE ROLE ... PASSWORD '<password>'.
SERVER_SCRAM = [
    ("v1", u"correct horse battery staple",
     "SCRAM-SHA-256$4096:XHJPghqYU6jNDI9HGG9uzQ==$hYP/FraG6pzStnTVW1sLvUjolUrpzY22FiTZxG1wBuE="
     ":xqy1XO9aVsyIKRRyI0BUIV5MVKIIQqSV19pm5KRBfmw="),
    # Non-ASCII: SASLprep maps U+00A0 to a space and NFKC folds U+2168 into "IX".
    ("v2", u"p\u00e4ssw\u00f6rd\u00a0\u2168",
     "SCRAM-SHA-256$4096:LYe4455lwwSoAAsH5uXJTw==$GC1Nx7mLDTa8DCrvB7wD91ZX73XKQg6pMTYmys4ZToA="
     ":MPzVwwEd1Q2KS0GUP0ofhBsifm6u+OZo2D3THa1w7uU="),
    # ASCII control characters pass through untouched.
    ("v3", u"ctrl\x01char",
     "SCRAM-SHA-256$4096:5siSkmKG3Zhfp7RF7S+Idw==$4rFBJuW8RV7g4ZC3+Hb4J84Ypku33YSKUto41Jbd7ts="
     ":Uyq21U03BHhRy9dSfiP8/TwlUNGVhkcC6G4U5dLNC7w="),
    # A prohibited character (U+200E) makes the server hash the raw bytes.
    ("v5", u"caf\u00e9\u200e",
     "SCRAM-SHA-256$4096:l9WzM/OHtLj/Iom6LpxOjA==$oJ7MgqA4ShPTO3PhCM2xYUT5v3Gq0yYvKc7L2zgFVgw="
     ":+TXXhZVu0TVrmtq8k3cZwhmRSqDn9lyj3+f2T6wOZLI="),
    # So does a code point unassigned in Unicode 3.2 (U+0221).
    ("v6", u"x\u0221y\u00e9",
     "SCRAM-SHA-256$4096:YZCbFya/1bmsdSZOsxP+hw==$3YZB0QMSAQBcIeQPT545JS/9fDxGFL9D9rvcN1LN518="
     ":wOegp8wmKFA6WjnOXRyxeqv816UZ4IQh+TMXp8Gev7c="),
]
SERVER_MD5 = ("v4", "secret-md5", "md5d163e2042445fa82697d1e407bea73d4")


@pytest.mark.parametrize("role, password, stored", SERVER_SCRAM, ids=[v[0] for v in SERVER_SCRAM])
def test_scram_matches_server_verifier(role, password, stored):
    assert password_matches(password, stored, role)
    assert not password_matches(password + u"x", stored, role)


def test_scram_verifier_reproduces_server_value():
    import base64
    stored = SERVER_SCRAM[0][2]
    salt = base64.b64decode(stored.split("$")[1].split(":")[1])
    assert scram_verifier(SERVER_SCRAM[0][1], salt, 4096) == stored


def test_md5_matches_server_verifier():
    role, password, stored = SERVER_MD5
    assert md5_verifier(password, role) == stored
    assert password_matches(password, stored, role)
    # md5 salts with the role name: the same password of another role differs.
    assert not password_matches(password, stored, "other")


def test_plain_stored_password_compares_verbatim():
    assert password_matches("plain-secret", "plain-secret", "r")
    assert not password_matches("plain-secret", "plain-secreT", "r")


def test_verifier_given_as_password_must_equal_stored():
    stored = SERVER_SCRAM[0][2]
    assert password_matches(stored, stored, "v1")
    assert not password_matches(SERVER_SCRAM[1][2], stored, "v1")
    assert password_matches(SERVER_MD5[2], SERVER_MD5[2], "v4")


def test_no_stored_password_never_matches():
    assert not password_matches("x", None, "r")
    assert not password_matches(None, SERVER_MD5[2], "v4")


@pytest.mark.parametrize("stored", [
    "SCRAM-SHA-256$0:XHJPghqYU6jNDI9HGG9uzQ==$hYP/FraG6pzStnTVW1sLvUjolUrpzY22FiTZxG1wBuE="
    ":xqy1XO9aVsyIKRRyI0BUIV5MVKIIQqSV19pm5KRBfmw=",
    "SCRAM-SHA-256$4096:###$abc:def",
])
def test_malformed_scram_does_not_match_or_raise(stored):
    assert not password_matches("correct horse battery staple", stored, "v1")


def test_verifier_kind():
    assert verifier_kind(SERVER_SCRAM[0][2]) == "scram-sha-256"
    assert verifier_kind(SERVER_MD5[2]) == "md5"
    assert verifier_kind("md5-but-not-a-hash") == "plain"
    assert verifier_kind(None) is None


def test_saslprep_rules():
    assert saslprep(u"ascii\x07kept") == u"ascii\x07kept"
    assert saslprep(u"a\u00adb\u00a0c") == u"ab c"  # B.1 removed, C.1.2 mapped to space
    assert saslprep(u"\u2168") == u"IX"
    assert saslprep(u"caf\u00e9\u200e") is None
    assert saslprep(u"\u00ad") is None  # empty after mapping
    # Bidi: RandALCat text must not mix with LCat and must start and end with RandALCat.
    assert saslprep(u"\u05d0\u05d1") == u"\u05d0\u05d1"
    assert saslprep(u"\u05d0a\u05d1") is None
    assert saslprep(u"\u05d01") is None
