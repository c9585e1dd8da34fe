FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8004 \
    WORKERS=4

WORKDIR /srv/clickclust

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY alembic.ini .
COPY migrations migrations
COPY app app

RUN useradd --system --no-create-home --uid 10001 clickclust
USER 10001

EXPOSE 8004
# The same start script as `make run`: wait for the database, migrate, serve.
CMD ["python", "-m", "app.serve"]
