"""`botstack-bot`: the Telegram bot (aiogram 3, long polling).

BOT_TOKEN[_FILE] is required; TELEGRAM_API_URL points it at api.telegram.org (default), a self-hosted
Bot API server or a test stand-in. Commands: /start, /posts (latest published posts, via API_URL).
Liveness: every successful Bot API call (getUpdates returns at least every polling timeout) touches
LIVENESS_DIR/botstack-bot.alive. SIGTERM/SIGINT stop polling after the update in hand.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message

from . import liveness
from .config import ConfigError, Settings, freeze_startup_objects, get_settings, setup_logging

log = logging.getLogger("botstack.bot")
router = Router(name="botstack")


async def fetch_published(api_url: str, limit: int = 5) -> list[dict[str, Any]]:
    url = f"{api_url.rstrip('/')}/posts"
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, params={"status": "published", "limit": str(limit)}) as resp,
    ):
        resp.raise_for_status()
        return await resp.json()


@router.message(CommandStart())
async def cmd_start(message: Message) -> None:
    await message.answer(
        "Hello! I am the botstack demo bot.\n/posts shows the latest posts published to the channels."
    )


@router.message(Command("posts"))
async def cmd_posts(message: Message, settings: Settings) -> None:
    try:
        posts = await fetch_published(settings.api_url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("/posts: API unavailable: %s", type(exc).__name__)
        await message.answer("The posts service is unavailable right now, please try again later.")
        return
    if not posts:
        await message.answer("No posts published yet.")
        return
    lines = [f"#{p['id']} [{p['channel']}] {p['text']}" for p in posts]
    await message.answer("Latest published posts:\n" + "\n".join(lines))


class LivenessMiddleware(BaseRequestMiddleware):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        response = await make_request(bot, method)
        try:
            liveness.touch(self.settings, "bot")
        except OSError as exc:
            log.warning("cannot write the liveness file: %s", exc)
        return response


def build(settings: Settings) -> tuple[Bot, Dispatcher]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(LivenessMiddleware(settings))
    bot = Bot(settings.require("bot_token"), session=session)
    dispatcher = Dispatcher(settings=settings)
    dispatcher.include_router(router)
    return bot, dispatcher


async def run(settings: Settings) -> None:
    bot, dispatcher = build(settings)
    try:
        await dispatcher.start_polling(bot, handle_signals=True, close_bot_session=True)
    finally:
        liveness.remove(settings, "bot")


def main() -> None:
    settings = get_settings()
    setup_logging(settings)
    try:
        settings.require("bot_token")
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    freeze_startup_objects()
    asyncio.run(run(settings))
