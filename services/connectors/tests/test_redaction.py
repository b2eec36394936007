from __future__ import annotations

from typing import Any

from flowtape.common.credentials import parse_credential
from flowtape.connectors.domain.redaction import REDACTED, Redactor


def test_secrets_are_replaced_in_strings_at_any_depth_keys_included() -> None:
    redactor = Redactor(["s3cr3t-token"])
    output: dict[str, Any] = {
        "headers": {"authorization": "Bearer s3cr3t-token", "s3cr3t-token": "as a key"},
        "list": ["s3cr3t-token", 7, None, True, {"deep": ["x s3cr3t-token y"]}],
        "other": "nothing to see",
    }

    redacted = redactor.value(output)

    assert redacted == {
        "headers": {"authorization": f"Bearer {REDACTED}", REDACTED: "as a key"},
        "list": [REDACTED, 7, None, True, {"deep": [f"x {REDACTED} y"]}],
        "other": "nothing to see",
    }
    assert output["headers"]["authorization"] == "Bearer s3cr3t-token", "the original is left alone"


def test_encoded_forms_are_replaced_too() -> None:
    redactor = Redactor(['p@ss w/"quote"'])

    assert redactor.text("q=p%40ss%20w%2F%22quote%22&x=1") == f"q={REDACTED}&x=1"
    assert redactor.text('{"password": "p@ss w/\\"quote\\""}') == f'{{"password": "{REDACTED}"}}'


def test_basic_credentials_hide_the_base64_pair_an_echo_would_show() -> None:
    basic = parse_credential("http_basic", {"username": "ada", "password": "correct horse"})
    redactor = Redactor(basic.secret_values())
    authorization = basic.authorization()  # type: ignore[attr-defined]

    assert redactor.text(f"you sent {authorization}") == f"you sent Basic {REDACTED}"
    assert redactor.text("hello ada") == "hello ada", "the user name is not a secret"


def test_a_short_secret_is_replaced_only_where_it_is_the_whole_string() -> None:
    redactor = Redactor(["eu"])

    assert redactor.value({"region": "eu", "word": "queue"}) == {"region": REDACTED, "word": "queue"}


def test_the_longest_secret_wins_where_secrets_overlap() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])

    assert redactor.text("xabcdefghx") == f"x{REDACTED}x"


def test_a_secret_cut_in_half_by_truncation_loses_the_half_that_is_left() -> None:
    secret = "tok-0123456789abcdef"
    redactor = Redactor([secret])

    assert redactor.text(f"HTTP 401: you sent Bearer {secret[:9]}") == f"HTTP 401: you sent Bearer {REDACTED}"
    assert redactor.text(f"{secret[-7:]} was refused") == f"{REDACTED} was refused"
    assert redactor.text("ends with tok") == "ends with tok", "three characters give nothing away"
    assert redactor.text(f"{secret} and {secret[:6]}") == f"{REDACTED} and {REDACTED}"


def test_no_secrets_no_changes() -> None:
    output = {"a": ["b"]}
    assert Redactor().value(output) is output
    assert not Redactor()
