# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a desired password with the verifier PostgreSQL stores for a role.

PostgreSQL keeps only a salted verifier in pg_authid.rolpassword, so the only
way to know whether a password is already set (and report no change) is to
recompute the verifier from the desired password with the stored salt and
iteration count, exactly as the server did.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import re
import stringprep
import unicodedata

SCRAM_PREFIX = "SCRAM-SHA-256$"
_SCRAM_RE = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>[0-9]+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)$"
)
_MD5_RE = re.compile(r"^md5[0-9a-f]{32}$")


def verifier_kind(value):
    """'scram-sha-256', 'md5' or 'plain' for a rolpassword value (or a password)."""
    if value is None:
        return None
    if _SCRAM_RE.match(value):
        return "scram-sha-256"
    if _MD5_RE.match(value):
        return "md5"
    return "plain"


def saslprep(password):
    """SASLprep (RFC 4013) the way PostgreSQL's pg_saslprep() applies it.

    Returns None when the server would fall back to the raw bytes: the
    password contains prohibited or unassigned characters, or breaks the
    bidirectional rules. ASCII passwords pass through untouched, as in
    PostgreSQL, control characters included.
    """
    if all(ord(char) < 128 for char in password):
        return password
    mapped = []
    for char in password:
        if stringprep.in_table_c12(char):
            mapped.append(u" ")
        elif not stringprep.in_table_b1(char):
            mapped.append(char)
    text = unicodedata.ucd_3_2_0.normalize("NFKC", u"".join(mapped))
    if not text:
        return None
    prohibited = (
        stringprep.in_table_a1,
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    if any(check(char) for char in text for check in prohibited):
        return None
    if any(stringprep.in_table_d1(char) for char in text):
        if any(stringprep.in_table_d2(char) for char in text):
            return None
        if not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])):
            return None
    return text


def _scram_keys(password, salt, iterations):
    prepared = saslprep(password)
    secret = (prepared if prepared is not None else password).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_verifier(password, salt, iterations=4096):
    """The SCRAM-SHA-256 verifier of password for a given salt (bytes)."""
    stored_key, server_key = _scram_keys(password, salt, iterations)
    return "%s%d:%s$%s:%s" % (
        SCRAM_PREFIX,
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(stored_key).decode("ascii"),
        base64.b64encode(server_key).decode("ascii"),
    )


def md5_verifier(password, role):
    """The md5 verifier PostgreSQL stores: 'md5' + md5(password || role)."""
    digest = hashlib.md5((password + role).encode("utf-8")).hexdigest()
    return "md5" + digest


def password_matches(password, stored, role):
    """Whether the stored rolpassword verifies password for role.

    password may itself be a verifier (PostgreSQL stores those verbatim), in
    which case it must equal the stored value.
    """
    if stored is None or password is None:
        return False
    if verifier_kind(password) != "plain":
        return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))
    kind = verifier_kind(stored)
    if kind == "scram-sha-256":
        match = _SCRAM_RE.match(stored)
        try:
            salt = base64.b64decode(match.group("salt"))
            stored_key = base64.b64decode(match.group("stored_key"))
            server_key = base64.b64decode(match.group("server_key"))
        except (binascii.Error, ValueError):
            return False
        iterations = int(match.group("iterations"))
        if iterations < 1:
            return False
        wanted_stored, wanted_server = _scram_keys(password, salt, iterations)
        return hmac.compare_digest(wanted_stored, stored_key) and hmac.compare_digest(
            wanted_server, server_key
        )
    if kind == "md5":
        return hmac.compare_digest(md5_verifier(password, role), stored)
    return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))
