"""The integration node types (databases, queues, mail, chat, AI, storage, SaaS APIs), on shared connections."""

from __future__ import annotations

from typing import Any

from flowtape.common.nodes.mqtt import MqttTriggerNode
from flowtape.common.nodes.sdk import NodeType
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.browser import BrowserNode
from flowtape.connectors.nodes.discord import DiscordWebhookNode
from flowtape.connectors.nodes.email import EmailNode
from flowtape.connectors.nodes.github import GithubNode
from flowtape.connectors.nodes.mqtt import MqttPublishNode
from flowtape.connectors.nodes.mysql import MysqlNode
from flowtape.connectors.nodes.openai import OpenAiNode
from flowtape.connectors.nodes.postgres import PostgresNode
from flowtape.connectors.nodes.rabbitmq import RabbitmqPublishNode
from flowtape.connectors.nodes.redis import RedisNode
from flowtape.connectors.nodes.s3 import S3Node
from flowtape.connectors.nodes.slack import SlackPostNode
from flowtape.connectors.nodes.sqlite import SqliteNode
from flowtape.connectors.nodes.telegram import TelegramSendNode
from flowtape.connectors.nodes.zoho import ZohoCrmNode, ZohoDeskNode


def integration_nodes(connections: Connections) -> list[NodeType[Any]]:
    calls = ApiCalls(connections)
    return [
        PostgresNode(connections),
        MysqlNode(connections),
        SqliteNode(connections),
        RedisNode(connections),
        RabbitmqPublishNode(connections),
        MqttPublishNode(connections),
        MqttTriggerNode(),
        EmailNode(connections),
        SlackPostNode(calls),
        DiscordWebhookNode(calls),
        TelegramSendNode(calls),
        OpenAiNode(calls),
        S3Node(calls),
        GithubNode(calls),
        ZohoCrmNode(calls),
        ZohoDeskNode(calls),
        BrowserNode(connections),
    ]
