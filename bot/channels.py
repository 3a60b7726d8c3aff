"""Rasa input channels for Relay's SMS and voice traffic.

Loaded by the Rasa server (Rasa venv) through bot/credentials.yml, so this
module imports only rasa and sanic, never the app.

Why not the stock REST channel: it always answers through an output channel
named "collector", and Rasa picks `channel:` response variations by the
output channel's name, so `channel: voice` variations would never apply.
Each channel here answers through a collector carrying its own name, and
records the same name as the message's input channel, so that actions can
ask `tracker.get_latest_input_channel()` which medium they serve.

Request and reply are the REST channel's JSON:
    POST /webhooks/<name>/webhook  {"sender": ..., "message": ..., "metadata": {...}}
    -> [{"recipient_id": ..., "text": ...}, ...]
"""

from __future__ import annotations

import inspect
import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_patches

logger = logging.getLogger(__name__)

# Rasa imports this module (credentials.yml) before serving: the place to apply our patches to it.
rasa_patches.apply()


class SmsOutput(CollectingOutputChannel):
    """Collects the bot's replies to a text message."""

    @classmethod
    def name(cls) -> str:
        return "sms"


class VoiceOutput(CollectingOutputChannel):
    """Collects the bot's replies to a caller's turn (spoken by the app)."""

    @classmethod
    def name(cls) -> str:
        return "voice"


class CollectingInput(InputChannel):
    """REST-style webhook that answers through `output_channel_class`."""

    output_channel_class: type[CollectingOutputChannel] = CollectingOutputChannel

    @classmethod
    def name(cls) -> str:
        return cls.output_channel_class.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        payload = request.json
        metadata = payload.get("metadata") if isinstance(payload, dict) else None
        return metadata if isinstance(metadata, dict) else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        webhook = Blueprint(f"{self.name()}_webhook", module.__name__ if module else None)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            payload = request.json
            if not isinstance(payload, dict):
                return response.json({"error": "expected a JSON object"}, status=400)
            sender = payload.get("sender")
            text = payload.get("message")
            if not isinstance(sender, str) or not sender or not isinstance(text, str):
                return response.json({"error": "'sender' and 'message' must be strings"}, status=400)

            collector = self.output_channel_class()
            message = UserMessage(
                text,
                collector,
                sender,
                # Fixed to the channel's name, whatever the caller sends, so that
                # the tracker and the chosen response variations always agree.
                input_channel=self.name(),
                metadata=self.get_metadata(request),
            )
            try:
                await on_new_message(message)
            except CancelledError:
                logger.error("%s: handling a message timed out", self.name())
                return response.json({"error": "timeout"}, status=503)
            except Exception:
                # Unlike RestInput (which answers 200 with what it has), fail loudly
                # so the app can fall back instead of sending a half reply.
                logger.exception("%s: handling a message failed", self.name())
                return response.json({"error": "internal error"}, status=500)
            return response.json(collector.messages)

        return webhook


class SmsInput(CollectingInput):
    """Text messages: `channel: sms` variations, input_channel "sms"."""

    output_channel_class = SmsOutput


class VoiceInput(CollectingInput):
    """Speech turns of a call: `channel: voice` variations, input_channel "voice"."""

    output_channel_class = VoiceOutput
