"""Console scripts of the long-running services (botstack-api, -worker, -bot): their imports run with the garbage
collector paused.

Importing aiogram or FastAPI creates hundreds of thousands of objects that all live until the process exits; the
collections that creating them triggers free nothing and cost about 15 % of the bot's start (0.35 s of CPU), time
during which an update waits and, for the bot, nobody polls. Each service's main() then exempts those objects from
later collections too (config.freeze_startup_objects).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable


def _service_main(module: str) -> Callable[[], None]:
    gc.disable()
    try:
        return importlib.import_module(f"botstack_app.{module}").main
    finally:
        gc.enable()


def api() -> None:
    _service_main("api")()


def worker() -> None:
    _service_main("worker")()


def bot() -> None:
    _service_main("bot")()
