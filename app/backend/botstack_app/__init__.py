"""botstack reference application: HTTP API, worker, Telegram bot and migrations."""

__version__ = "0.1.0"
