// A stock client subscribed to the inbox with its own reconnection (retryAttempts), resuming from
// the last event id it saw: graphql-ws through connection_init's `lastEventId`, graphql-sse
// (distinct connections mode) through the Last-Event-ID header. Every `cutEvery` events it cuts its
// own connection abruptly (a dropped network); the server may cut it too. It prints one JSON line
// per event received and ends, exit code 0, once it has `expected` of them.
//
//   node resume.mjs ws|sse <url> <token> <expected> <cutEvery>
import { createClient as createWsClient } from "graphql-ws";
import { createClient as createSseClient } from "graphql-sse";
import WebSocket from "ws";

const [transport, url, token, expected, cutEvery] = process.argv.slice(2);
const want = Number(expected);
const every = Number(cutEvery);
const INBOX = "subscription { inbox { id payload { __typename } } }";

let last = null;
let cut = () => {};
const ids = [];
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const retry = {
  retryAttempts: 100,
  shouldRetry: () => true,
};

let client;
if (transport === "ws") {
  client = createWsClient({
    url,
    webSocketImpl: WebSocket,
    ...retry,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 50)),
    // Evaluated again on every connection: the resume point travels with it.
    connectionParams: () => ({ authorization: `Bearer ${token}`, ...(last ? { lastEventId: last } : {}) }),
    on: {
      connected: (socket) => {
        cut = () => socket.terminate();
        say({ connected: true });
      },
      closed: (event) => say({ closed: event?.code ?? null }),
    },
  });
} else {
  client = createSseClient({
    url,
    retryAttempts: retry.retryAttempts,
    retry: () => new Promise((resolve) => setTimeout(resolve, 50)),
    headers: () => ({ authorization: `Bearer ${token}`, ...(last ? { "last-event-id": last } : {}) }),
    // The client offers no way to drop its connection: abort the request it is reading.
    fetchFn: (input, init) => {
      const control = new AbortController();
      init?.signal?.addEventListener("abort", () => control.abort());
      cut = () => control.abort();
      return fetch(input, { ...init, signal: control.signal });
    },
    on: { connected: () => say({ connected: true }) },
  });
}

const timer = setTimeout(() => {
  say({ timeout: true, ids });
  process.exit(1);
}, 60_000);

client.subscribe(
  { query: INBOX },
  {
    next: (result) => {
      if (result.errors) {
        say({ errors: result.errors });
        process.exit(1);
      }
      const event = result.data.inbox;
      ids.push(event.id);
      last = event.id;
      say({ received: event.id, type: event.payload.__typename });
      if (ids.length >= want) {
        clearTimeout(timer);
        say({ ids });
        client.dispose();
        process.exit(0);
      }
      if (every > 0 && ids.length % every === 0) {
        say({ cutting: ids.length });
        cut();
      }
    },
    error: (error) => {
      say({ error: String(error?.message ?? error?.reason ?? error) });
      process.exit(1);
    },
    complete: () => {
      say({ complete: true, ids });
      process.exit(1);
    },
  },
);
