# mcp-runner over Streamable HTTP, with the Redis state backend plugin.
# Build: docker build -t mcp-runner .
# Run:   docker run -p 8000:8000 -e MCP_RUNNER_HTTP__ALLOWED_HOSTS='["mcp.example.com"]' mcp-runner
# The Host check answers to the container's own names and addresses; allowed_hosts adds the
# public name clients use (docs/operations.md, Containers).

FROM python:3.11-slim AS build
RUN python -m venv /opt/mcp-runner
ENV PATH=/opt/mcp-runner/bin:$PATH
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir . ./plugins/files ./plugins/redis

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin mcp
COPY --from=build /opt/mcp-runner /opt/mcp-runner
ENV PATH=/opt/mcp-runner/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MCP_RUNNER_HTTP__PORT=8000 \
    MCP_RUNNER_LOG_FORMAT=json
WORKDIR /srv
USER mcp
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
STOPSIGNAL SIGTERM
CMD ["mcp-runner", "serve", "--transport", "http", "--host", "0.0.0.0"]
