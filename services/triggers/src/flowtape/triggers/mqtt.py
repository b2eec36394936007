"""MQTT subscriptions for ``mqtt_trigger`` workflows: every triggers replica subscribes, each message starts one run.

Every replica holds a *shared* subscription (``$share/flowtape-<workflow id>/<topic>``, MQTT 5 and Mosquitto,
EMQX, HiveMQ alike), so the broker hands each message to exactly one of them; the start then goes through
the claimed fire key like every trigger. A message that carries an id of its own (the MQTT 5 user property
``message_id``, or its correlation data) is keyed by it, so even a redelivery starts nothing new; one without
an id gets one start per delivery (as ``message_trigger`` does).

The credential comes from the connectors, sealed to a key this replica makes at start and never shares;
the broker's address passes the SSRF guard like a node's connection. A subscription that fails is retried
with backoff and logged without its secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flowtape.common.bus import Bus
from flowtape.common.credentials import MqttCredential, parse_credential
from flowtape.common.egress import EgressPolicy
from flowtape.common.messages.connectors import OpenTriggerCredential, SealedCredential
from flowtape.common.nodes.mqtt import MqttTriggerParams
from flowtape.triggers.domain.registration import Registration

if TYPE_CHECKING:  # the MQTT client and JOSE libraries load with the first subscription (~10 MB a replica without one)
    import aiomqtt
    from joserfc.jwk import ECKey

log = logging.getLogger("flowtape.triggers.mqtt")
MAX_BACKOFF = 30.0
OnMessage = Callable[[Registration, "aiomqtt.Message"], Awaitable[object]]


def shared_topic(registration: Registration, topic: str) -> str:
    return f"$share/flowtape-{registration.workflow_id}/{topic}"


def message_key(message: aiomqtt.Message) -> str:
    """The fire key of a message: its own id when it has one, else this delivery's."""
    properties = message.properties
    for name, value in getattr(properties, "UserProperty", None) or []:
        if name in ("message_id", "message-id") and value:
            return f"mqtt:{str(value)[:150]}"
    correlation = getattr(properties, "CorrelationData", None)
    if correlation:
        return f"mqtt:{bytes(correlation).hex()[:150]}"
    return f"mqtt-delivery:{uuid.uuid4().hex}"


def message_items(message: aiomqtt.Message, mode: str) -> list[dict[str, Any]]:
    payload = (
        bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else str(message.payload).encode()
    )
    text = payload.decode("utf-8", errors="replace")
    if mode == "json":
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
    return [{"payload": text, "topic": str(message.topic)}]


class MqttSubscriptions:
    """One task per ``mqtt`` registration in this replica's snapshot; :meth:`sync` follows the snapshot."""

    def __init__(self, bus: Bus, egress: EgressPolicy, on_message: OnMessage, replica: str) -> None:
        self._bus = bus
        self._egress = egress
        self._on_message = on_message
        self._replica = replica
        self._key: ECKey | None = None  # made with the first subscription, never shared
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        #: subscriptions currently connected and subscribed, by workflow id (for tests and readiness)
        self.subscribed: set[str] = set()

    async def sync(self, registrations: list[Registration]) -> None:
        wanted = {r.workflow_id: r for r in registrations if r.kind == "mqtt"}
        for workflow_id, (fingerprint, task) in list(self._tasks.items()):
            current = wanted.get(workflow_id)
            if current is None or _fingerprint(current) != fingerprint:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                del self._tasks[workflow_id]
                self.subscribed.discard(workflow_id)
        for workflow_id, registration in wanted.items():
            if workflow_id not in self._tasks:
                task = asyncio.create_task(self._subscription(registration))
                self._tasks[workflow_id] = (_fingerprint(registration), task)

    async def close(self) -> None:
        await self.sync([])

    async def _credential(self, ref: str, project_id: str) -> MqttCredential:
        """The credential ``ref`` of the workflow's project (another project's is not found)."""
        from joserfc import jwe
        from joserfc.jwk import ECKey

        if self._key is None:
            self._key = ECKey.generate_key("P-256", private=True)
        public = self._key.as_dict(private=False)
        query = OpenTriggerCredential(credential=ref, reply_jwk=public, project_id=project_id)
        sealed = await self._bus.ask(query, timeout=15, into=SealedCredential)
        opened = jwe.decrypt_compact(sealed.sealed_data, self._key)
        data = parse_credential(sealed.type, json.loads(opened.plaintext or b"{}")["data"])
        assert isinstance(data, MqttCredential)
        return data

    async def _subscription(self, registration: Registration) -> None:
        import aiomqtt

        params = MqttTriggerParams.model_validate(registration.params)
        delay = 1.0
        while True:
            try:
                data = await self._credential(params.credential, registration.project_id)
                verified = data.tls == "verify"
                host = await self._egress.address(data.host, data.port)
                context = None
                if data.tls != "disable":
                    import ssl

                    context = ssl.create_default_context()
                    if data.tls == "require":
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                client = aiomqtt.Client(
                    data.host if verified else host,
                    data.port,
                    username=data.username,
                    password=data.password.get_secret_value() if data.password else None,
                    identifier=f"flowtape-{self._replica}-{registration.workflow_id}"[:64],
                    protocol=aiomqtt.ProtocolVersion.V5,
                    tls_context=context,
                    tls_insecure=data.tls == "require" or None,
                    timeout=10,
                )
                async with client:
                    await client.subscribe(shared_topic(registration, params.topic), qos=params.qos)
                    self.subscribed.add(registration.workflow_id)
                    log.info("subscribed to MQTT topic %r for workflow %s", params.topic, registration.workflow_id)
                    delay = 1.0
                    async for message in client.messages:
                        try:
                            await self._on_message(registration, message)
                        except Exception:
                            log.exception("an MQTT message for workflow %s did not start it", registration.workflow_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.discard(registration.workflow_id)
                why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                log.warning(
                    "MQTT subscription of workflow %s failed (%s); retrying in %g s",
                    registration.workflow_id,
                    why,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)


def _fingerprint(registration: Registration) -> str:
    return f"{registration.version}:{json.dumps(registration.params, sort_keys=True)}"
