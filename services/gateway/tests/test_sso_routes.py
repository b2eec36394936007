"""The SSO routes' request models: a PATCH changes only what it names (``default_role: null`` turns sign-up off,
leaving it out keeps it), and switches take real booleans."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowtape.gateway.routes.sso import NewSsoProvider, SsoProviderChange, SsoSettingsChange


def test_a_change_names_only_what_it_changes() -> None:
    kept = SsoProviderChange.model_validate({"enabled": False}).fields()
    assert kept.enabled is False and kept.default_role_set is False and kept.grants is None
    off = SsoProviderChange.model_validate({"default_role": None}).fields()
    assert off.default_role is None and off.default_role_set is True


def test_a_new_provider_carries_its_grants_but_not_its_secret() -> None:
    body = NewSsoProvider.model_validate(
        {
            "name": "corp",
            "kind": "oidc",
            "preset": "google",
            "client_id": "c",
            "client_secret": "the-secret",
            "grants": [{"group": "eng", "role": "editor"}],
        }
    )
    fields = body.fields()
    assert fields.preset == "google" and [g.group for g in fields.grants or []] == ["eng"]
    assert "the-secret" not in fields.model_dump_json() and "the-secret" not in repr(body)


@pytest.mark.parametrize("body", [{"require_sso": 0}, {"require_sso": "yes"}, {}])
def test_require_sso_takes_a_real_boolean(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SsoSettingsChange.model_validate(body)
    with pytest.raises(ValidationError):
        SsoProviderChange.model_validate({"enabled": 1})
