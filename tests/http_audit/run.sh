#!/usr/bin/env bash
# Serve Cartera from a fresh plain install in an empty directory, then try it as stock clients
# do: graphql-http's audits (fails on any MUST or SHOULD that does not pass), Apollo Client's own
# persisted-query link (apollo.cjs: fails on any request or answer the protocol does not expect),
# and GraphiQL's page with every asset it names. One install serves all three.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$root"
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund graphql-http@1.23.1 @apollo/client@3.13.8 graphql@16 >/dev/null)
cp "$here/audit.mjs" "$here/apollo.cjs" "$work/"

cartera() { (cd "$work" && env -u DATABASE_URL -u REDIS_URL -u CARTERA_SECRET_KEY "$work/venv/bin/cartera" "$@"); }
cartera create-user apq@example.com --password "apollo persisted" --role ADMIN 2>/dev/null
token="$(cartera token apq@example.com)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec env -u DATABASE_URL -u REDIS_URL -u CARTERA_SECRET_KEY "$work/venv/bin/cartera" serve --port "$port" >"$work/serve.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
(cd "$work" && node audit.mjs "http://127.0.0.1:$port/graphql") || { cat "$work/serve.log"; exit 1; }
(cd "$work" && node apollo.cjs "http://127.0.0.1:$port/graphql" "$token") || { cat "$work/serve.log"; exit 1; }

# GraphiQL from the same plain install: the page and every asset it names come with the package.
page="$(curl -fs -H 'accept: text/html' "http://127.0.0.1:$port/graphql")"
assets="$(grep -oE 'graphiql/assets/[^"]+' <<<"$page")"
[ -n "$assets" ] || { echo "GraphiQL's page names no asset"; exit 1; }
for asset in $assets; do
  curl -fs -o /dev/null "http://127.0.0.1:$port/$asset" || { echo "GraphiQL asset not installed: $asset"; exit 1; }
done
echo "GraphiQL: the page and its $(wc -w <<<"$assets") assets served from a plain install"
