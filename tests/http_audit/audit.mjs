// Runs the public graphql-http server audits against a running Cartera.
// Usage (see CONTRIBUTING.md): node tests/http_audit/audit.mjs http://127.0.0.1:8000/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2] ?? 'http://127.0.0.1:8000/graphql';
const results = await Promise.all(serverAudits({ url }).map(({ fn }) => fn()));
const tally = {};
let failed = 0;
for (const r of results) {
  const level = r.name.split(' ')[0];
  tally[level] ??= { ok: 0, total: 0 };
  tally[level].total += 1;
  if (r.status === 'ok') tally[level].ok += 1;
  else {
    if (level !== 'MAY') failed += 1;
    console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
  }
}
for (const [level, { ok, total }] of Object.entries(tally)) console.log(`${level}: ${ok}/${total}`);
process.exit(failed ? 1 : 0);
