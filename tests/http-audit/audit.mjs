// Runs every server audit of graphql-http, the GraphQL-over-HTTP reference implementation,
// against the endpoint given as the first argument, one audit at a time, and prints the
// results as a JSON array on stdout. With JBTS_AUDIT_TOKEN set, every request carries it as a
// bearer token (serverAudits takes a fetch function, not headers). Driven by
// tests/e2e/http_audit.rs; install with `npm ci` in this folder.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}
const token = process.env.JBTS_AUDIT_TOKEN;

function withToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: token ? withToken : fetch })) {
  const result = await audit.fn();
  let body = null;
  if (result.status !== 'ok') {
    try {
      body = await result.response.clone().text();
    } catch {
      // the audit read the body already
    }
  }
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.reason ?? null,
    responseStatus: result.response?.status ?? null,
    responseBody: body,
  });
}
process.stdout.write(JSON.stringify(results));
