# tg-parser: the bot, the userbot and the scheduler in one process.
# Build: docker build -t tg-parser .   Run: docker compose up -d (see README, "Containers").

# --- build: wheels for the app and everything it needs (cryptg included) -------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY bot ./bot
COPY parser ./parser
COPY db ./db
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

# --- runtime: no compiler, no source tree, a non-root user, data in a volume ------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tgparser \
    && mkdir -p /data && chown tgparser /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels tg-parser[postgres] \
    && rm -rf /wheels
USER tgparser
WORKDIR /data
VOLUME ["/data"]
ENV PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:///data/tg_parser.sqlite3 \
    HEALTH_PORT=8080 \
    HEALTH_HOST=0.0.0.0
EXPOSE 8080
# /healthz answers 503 while a component is down; urlopen raises on it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
# `check` names every missing setting and exits 2 before anything starts.
CMD ["sh", "-c", "tg-parser check && exec tg-parser run"]
