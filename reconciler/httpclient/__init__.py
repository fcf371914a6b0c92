"""The one HTTP client and the only httpx user: callers see its own request, response and
error types (``messages``, ``errors``) and send them through ``client.HttpClient``."""
