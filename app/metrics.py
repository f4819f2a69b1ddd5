"""Prometheus metrics of the parser, in prometheus_client's default registry (/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_STORED = Counter(
    "tg_parser_messages_stored_total", "Messages written (inserted or refreshed)"
)
REQUESTS = Counter(
    "tg_parser_telegram_requests_total", "Telegram requests made by the fetcher", ["method"]
)
FLOOD_WAITS = Counter("tg_parser_flood_waits_total", "Flood waits that deferred a channel")
ERRORS = Counter("tg_parser_errors_total", "Failed channel runs by kind", ["kind"])
RUN_SECONDS = Histogram(
    "tg_parser_run_duration_seconds",
    "Duration of one channel run",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
BREAKER_OPEN = Gauge("tg_parser_breaker_open", "1 while the transport circuit breaker is open")


class PrometheusMetrics:
    """core.ports.Metrics over the series above (prometheus_client's default registry)."""

    def request(self, method: str) -> None:
        REQUESTS.labels(method).inc()

    def stored(self, count: int) -> None:
        MESSAGES_STORED.inc(count)

    def flood_wait(self) -> None:
        FLOOD_WAITS.inc()

    def run_failed(self, kind: str) -> None:
        ERRORS.labels(kind).inc()

    def run_seconds(self, seconds: float) -> None:
        RUN_SECONDS.observe(seconds)

    def breaker_open(self, is_open: bool) -> None:
        BREAKER_OPEN.set(1 if is_open else 0)
