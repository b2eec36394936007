"""The credentials vault: the connectors' verbs on credentials, and the lookup node tasks use.

Data arrives sealed (opened with :class:`~flowtape.connectors.keys.SealingKey`), is validated against its type,
and is stored encrypted (:class:`~flowtape.connectors.keys.DataCipher`). It leaves the vault only into a node
task, through :class:`TaskCredentials`, which remembers every secret it handed out so the runner can redact
them from the task's outcome. A task (and a trigger) finds only its own project's credentials: another project's
fails exactly like a missing one, so a name or id says nothing across the boundary. Nothing here logs data or
puts it in an error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flowtape.common.credentials import parse_credential
from flowtape.common.errors import Conflict, InvalidCredential, NodeError, NotFound, Unavailable
from flowtape.common.messages import connectors as msg
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.credentials import CredentialStore, StoredCredential, cursor_of
from flowtape.connectors.domain.credential_names import as_credential_id, checked_name
from flowtape.connectors.domain.redaction import Redactor
from flowtape.connectors.keys import CredentialsUnreadable, DataCipher, SealingKey, seal_to

log = logging.getLogger("flowtape.connectors.vault")
#: the only credential types a trigger may ask for (it subscribes with them)
TRIGGER_CREDENTIAL_TYPES = ("mqtt",)


def _now() -> datetime:
    return datetime.now(UTC)


def _view(stored: StoredCredential) -> msg.CredentialView:
    return msg.CredentialView(
        id=str(stored.id),
        name=stored.name,
        type=stored.type,
        project_id=stored.project_id,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


class Vault:
    def __init__(self, store: CredentialStore, secret_key: str, clock: Callable[[], datetime] = _now) -> None:
        self._store = store
        self._cipher = DataCipher(secret_key)
        self._sealing = SealingKey(secret_key)
        self._clock = clock

    def sealing_key(self) -> msg.SealingKey:
        return msg.SealingKey(jwk=self._sealing.public_jwk())

    async def create(self, command: msg.CreateCredential) -> msg.CredentialView:
        name = checked_name(command.name)
        data = parse_credential(command.type, self._sealing.open(command.sealed_data))
        credential_id, now = uuid.uuid4(), self._clock()
        stored = StoredCredential(
            id=credential_id,
            project_id=command.project_id,
            name=name,
            type=data.type_name,
            data=self._cipher.encrypt(data.reveal(), str(credential_id)),
            created_at=now,
            updated_at=now,
        )
        await self._store.add(stored)
        return _view(stored)

    async def update(self, command: msg.UpdateCredential) -> msg.CredentialView:
        current = await self._existing(command.credential_id)
        name = checked_name(command.name) if command.name is not None else current.name
        data = parse_credential(current.type, self._sealing.open(command.sealed_data))
        stored = StoredCredential(
            id=current.id,
            name=name,
            type=current.type,
            data=self._cipher.encrypt(data.reveal(), str(current.id)),
            created_at=current.created_at,
            updated_at=self._clock(),
            project_id=current.project_id,
        )
        await self._store.replace(stored)
        return _view(stored)

    async def delete(self, credential_id: str) -> msg.CredentialView:
        """Workflows that refer to it fail at their next run, naming the credential they miss."""
        parsed = as_credential_id(credential_id)
        if parsed is None:
            raise NotFound(f"no credential {credential_id}")
        return _view(await self._store.remove(parsed))

    async def get(self, credential_id: str) -> msg.CredentialView:
        return _view(await self._existing(credential_id))

    async def list(self, limit: int, cursor: str | None, project_ids: list[str] | None = None) -> msg.CredentialPage:
        found = await self._store.page(limit + 1, cursor, project_ids)
        items = found[:limit]
        more = len(found) > limit
        return msg.CredentialPage(items=[_view(c) for c in items], next_cursor=cursor_of(items[-1]) if more else None)

    async def _existing(self, credential_id: str) -> StoredCredential:
        parsed = as_credential_id(credential_id)
        found = await self._store.get(parsed) if parsed is not None else None
        if found is None:
            raise NotFound(f"no credential {credential_id}")
        return found

    async def resolve(self, ref: str, project_id: str) -> Credential:
        """The credential of ``project_id`` with id or name ``ref``, decrypted, for a node task; NodeError when
        that project has none (whether or not another project has it)."""
        try:
            parsed = as_credential_id(ref)
            if parsed is not None:
                found = await self._store.get(parsed, project_id)
            else:
                found = await self._store.named(ref, project_id)
        except Exception as exc:
            raise Unavailable(f"the credentials store is unavailable ({type(exc).__name__}); try again") from None
        if found is None:
            raise NodeError(f"there is no credential {ref!r} (editors create them under /api/v1/credentials)")
        data = parse_credential(found.type, self._cipher.decrypt(found.data, str(found.id)))
        return Credential(id=str(found.id), name=found.name, data=data)

    async def open(self, credential_id: str) -> Credential:
        """The credential with this id, decrypted, for a check or an authorization of it; NotFound when there is
        none. Any project's: these are addressed by id, and the gateway decided the caller may act on it."""
        found = await self._existing(credential_id)
        return Credential(
            id=str(found.id),
            name=found.name,
            data=parse_credential(found.type, self._cipher.decrypt(found.data, str(found.id))),
        )

    async def open_for_trigger(self, query: msg.OpenTriggerCredential) -> msg.SealedCredential:
        """An ``mqtt`` credential's data sealed to the asking triggers replica; no other type leaves this way."""
        found = await self.resolve(query.credential, query.project_id)
        if found.type not in TRIGGER_CREDENTIAL_TYPES:
            raise InvalidCredential(
                f"credential {found.name!r} is of type {found.type}; triggers subscribe with "
                + " or ".join(TRIGGER_CREDENTIAL_TYPES)
            )
        return msg.SealedCredential(type=found.data.type_name, sealed_data=seal_to(query.reply_jwk, found.reveal()))

    def for_task(self, project_id: str) -> TaskCredentials:
        return TaskCredentials(self, project_id)

    async def check_restored(self) -> None:
        """After a restore: Conflict, saying why, when the restored credentials do not open with this secret key."""
        oldest = await self._store.oldest()
        if oldest is None:
            return
        try:
            self._cipher.decrypt(oldest.data, str(oldest.id))
        except CredentialsUnreadable:
            raise Conflict(
                "the backup is restored, but its credentials do not open with this platform's FLOWTAPE_SECRET_KEY: "
                "start the connectors with the secret key of the platform that was backed up",
                {"reason": "secret_key"},
            ) from None

    async def check_readable(self) -> None:
        """Say loudly on start when stored credentials do not open with this secret key (nodes would fail)."""
        oldest = await self._store.oldest()
        if oldest is None:
            return
        try:
            self._cipher.decrypt(oldest.data, str(oldest.id))
        except CredentialsUnreadable as exc:
            log.error("%s; nodes that use credentials will fail", exc.message)


class TaskCredentials:
    """The credentials one node task asked for: looked up once each, their secrets kept for redaction."""

    def __init__(self, vault: Vault, project_id: str) -> None:
        self._vault = vault
        self._project_id = project_id
        self._found: dict[str, Credential] = {}
        self.redactor = Redactor()

    async def __call__(self, ref: str) -> Credential:
        found = self._found.get(ref)
        if found is None:
            found = await self._vault.resolve(ref, self._project_id)
            self._found[ref] = found
            self.redactor.add(found.data.secret_values())
        return found

    def remember(self, secrets: list[str]) -> None:
        """Secrets the task came by another way (an OAuth2 access token): redacted like the credentials'."""
        self.redactor.add(secrets)
