// Lint an email's HTML against caniemail's support data.
// Usage: node lint.mjs FILE CLIENT_GLOB...   Prints one JSON array of
// {kind: "errors"|"warnings", client, feature, support} objects, one per (client, feature).
import { caniemail } from 'caniemail';
import { readFileSync } from 'node:fs';

const [file, ...clients] = process.argv.slice(2);
const result = caniemail({ clients, html: readFileSync(file, 'utf8') });
const found = new Map();
for (const [kind, byClient] of Object.entries(result.issues)) {
  const entries = byClient instanceof Map ? byClient.entries() : Object.entries(byClient);
  for (const [client, issues] of entries) {
    for (const issue of issues) {
      found.set(`${kind} ${client} ${issue.title}`, { kind, client, feature: issue.title, support: issue.support });
    }
  }
}
console.log(JSON.stringify([...found.values()]));
