# lovebank serve in a container. Untested: no image registry was reachable where this was written.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot bot
COPY models models
COPY handlers handlers
COPY migrations migrations
COPY bench bench
RUN pip install --no-cache-dir . && useradd --system lovebank
USER lovebank
ENV LOVEBANK_HTTP_HOST=0.0.0.0 LOVEBANK_HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"
# SIGTERM lets in-flight updates finish; give it the lease time to do so.
STOPSIGNAL SIGTERM
CMD ["lovebank", "serve"]
