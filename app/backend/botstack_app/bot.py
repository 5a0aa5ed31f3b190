"""`botstack-bot`: the Telegram bot (aiogram 3, long polling).

BOT_TOKEN[_FILE] is required; TELEGRAM_API_URL points it at api.telegram.org (default), a self-hosted
Bot API server or a test stand-in. Commands: /start, /posts (latest published posts, via API_URL).
Liveness: every successful Bot API call (getUpdates returns at least every POLL_SECONDS) touches
LIVENESS_DIR/botstack-bot.alive. SIGTERM/SIGINT stop polling once the getUpdates in flight has returned (it is not
cancelled: the Bot API would otherwise still hold it when the next bot polls) and no further one is sent.

One poller at a time: Telegram answers a second getUpdates poller 409 Conflict. With POLLER_LOCK_DIR set (a directory
that every bot container of the stack mounts: docs/rollout.md), the bot imports, asks getMe (healthy from then on: a
ready standby) and polls only while it holds an exclusive flock on that directory. The kernel releases the lock when
the holder closes it after its last poll has returned, or when its process dies in any way, so a replacement started
beside the running bot takes over within POLLER_LOCK_RETRY_SECONDS of the old one's last poll instead of importing
aiogram then.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
import time
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Message

from . import liveness
from .config import ConfigError, Settings, freeze_startup_objects, get_settings, setup_logging

log = logging.getLogger("botstack.bot")
router = Router(name="botstack")

POLLER_LOCK_RETRY_SECONDS = 0.1  # a standby tries for the lock this often: the longest it adds to a handover
# getUpdates' long-poll timeout. A stopping bot waits for the poll in flight to return, so this bounds the handover
# (and the old bot's exit); a poll every 2 s when nothing happens is still a negligible load on the Bot API.
POLL_SECONDS = 2
STANDBY_TOUCH_SECONDS = 10.0  # a waiting standby renews its liveness file (well within LIVENESS_MAX_AGE)


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
            liveness.touch(self.settings.liveness_dir, "bot")
        except OSError as exc:
            log.warning("cannot write the liveness file: %s", exc)
        return response


class StopBetweenPolls(BaseRequestMiddleware):
    """Once `stopping` is set, the next getUpdates is not sent: polling stops there, after the one in flight returned."""

    def __init__(self, stopping: asyncio.Event, dispatcher: Dispatcher) -> None:
        self.stopping, self.dispatcher = stopping, dispatcher
        self.stopper: asyncio.Task[None] | None = None

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates) and self.stopping.is_set():
            log.info("stopping: the last poll has returned")
            self.stopper = asyncio.create_task(self.dispatcher.stop_polling())  # cancels this polling task
            await asyncio.Event().wait()
        return await make_request(bot, method)


def build(settings: Settings, stopping: asyncio.Event | None = None) -> tuple[Bot, Dispatcher]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(LivenessMiddleware(settings))
    bot = Bot(settings.require("bot_token"), session=session)
    dispatcher = Dispatcher(settings=settings)
    dispatcher.include_router(router)
    if stopping is not None:
        session.middleware(StopBetweenPolls(stopping, dispatcher))
    return bot, dispatcher


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` if nobody holds it; never blocks."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


async def take_poller_lock(settings: Settings) -> int | None:
    """Wait until this bot may poll: the fd holding the lock on POLLER_LOCK_DIR (None when it is not set).

    The directory is opened read-only: flock needs no write access, and nothing is ever written there. While another
    bot holds the lock, the liveness file is renewed, so the healthcheck reports a ready standby."""
    if not settings.poller_lock_dir:
        return None
    fd = os.open(settings.poller_lock_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if try_lock(fd):
            return fd
        log.info("standby: another bot polls; waiting for the poller lock on %s", settings.poller_lock_dir)
        waited_since = renewed = time.monotonic()
        while not try_lock(fd):
            await asyncio.sleep(POLLER_LOCK_RETRY_SECONDS)
            if time.monotonic() - renewed >= STANDBY_TOUCH_SECONDS:
                liveness.touch(settings.liveness_dir, "bot")
                renewed = time.monotonic()
        log.info("took the poller lock after %.1f s of standby", time.monotonic() - waited_since)
        return fd
    except BaseException:
        os.close(fd)
        raise


def stop_on_signals(stopping: asyncio.Event, polling: asyncio.Event) -> None:
    """SIGTERM/SIGINT: a standby (not polling yet) ends at once; a polling bot stops after the poll in flight."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def stop() -> None:
        if polling.is_set():
            stopping.set()
        elif task is not None:
            task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)


async def run(settings: Settings) -> None:
    stopping, polling = asyncio.Event(), asyncio.Event()
    bot, dispatcher = build(settings, stopping)
    stop_on_signals(stopping, polling)
    lock: int | None = None
    try:
        await bot.me()  # getMe: the token works and the Bot API answers (the liveness file says so) before any poll
        lock = await take_poller_lock(settings)
        polling.set()
        await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=True, polling_timeout=POLL_SECONDS)
    except asyncio.CancelledError:
        log.info("stopped before polling")
    finally:
        await bot.session.close()  # already closed when polling ran; a standby stopped early closes it here
        if lock is not None:
            os.close(lock)  # the next bot may poll now: this one's polling has ended and its session is closed
        liveness.remove(settings.liveness_dir, "bot")


def main() -> None:
    settings = get_settings()
    setup_logging(settings)
    try:
        settings.require("bot_token")
        if settings.poller_lock_dir and not os.path.isdir(settings.poller_lock_dir):
            raise ConfigError(
                f"POLLER_LOCK_DIR={settings.poller_lock_dir} is not a directory: mount the volume that every bot "
                "container of the stack shares there, or leave POLLER_LOCK_DIR unset to poll without a lock"
            )
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    freeze_startup_objects()
    asyncio.run(run(settings))
