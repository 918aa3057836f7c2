# lovebank serve in a container. Untested as a whole: no container runtime was available where this
# was written; its health check is run by tests/unit/test_deploy.py.
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
# The certificates' base CJK font, cut now rather than at the first certificate (bot/kernel/pdf_fonts.py).
RUN python -c "from bot.kernel.pdf_fonts import base_path; base_path()"
ENV LOVEBANK_HTTP_HOST=0.0.0.0 LOVEBANK_HTTP_PORT=8080
EXPOSE 8080
# On the configured port (LOVEBANK_HTTP_PORT), whatever it is.
HEALTHCHECK CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LOVEBANK_HTTP_PORT', '8080'), timeout=3)"
# SIGTERM lets in-flight updates finish; give it the lease time to do so.
STOPSIGNAL SIGTERM
CMD ["lovebank", "serve"]
