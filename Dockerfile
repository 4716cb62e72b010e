# syntax=docker/dockerfile:1
# Build stage: compile the wheel and its dependencies once.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The locked versions first, every file checked against its hash (requirements.lock: `pip-compile`),
# in a layer of their own that a change to the code alone does not rebuild.
COPY requirements.lock ./
RUN python -m venv /opt/cartera \
 && /opt/cartera/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY cartera cartera
COPY schema schema
COPY resolvers resolvers
COPY subscriptions subscriptions
COPY services services
COPY db db
# Nothing resolved here: the dependencies are the lock's, and so is the build backend (setuptools).
RUN /opt/cartera/bin/pip install --no-deps --no-build-isolation .

# Runtime stage: the virtualenv only, run by an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/cartera/bin:$PATH PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --home-dir /var/lib/cartera --create-home cartera \
 && install -d -o cartera -g cartera /var/lib/cartera/attachments
COPY --from=build /opt/cartera /opt/cartera
# Attachments and exports (services.attachment_store.LocalDiskStore): docker-compose.yml mounts a
# named volume here. Created above, owned by the user, so a new volume starts with that owner.
ENV CARTERA_ATTACHMENTS_DIR=/var/lib/cartera/attachments
USER cartera
WORKDIR /var/lib/cartera
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["cartera", "serve", "--host", "0.0.0.0", "--port", "8000"]
