// The service of the node-fetch chain: express on Node.js 18+. The handler
// for /front/N calls the backend with the built-in fetch (undici, its global
// dispatcher: its own keep-alive connection pool per origin, no limit on
// connections), one call after the other: GET /b1/ID, reads the body, then
// GET /b2/ID, reads the body, then answers. No OpenTelemetry here and no
// traceparent: the harness builds the ground truth from the request numbers.
//
// usage: node nodefetch.js IDS BIND PORT LEAF_HOST:PORT
//   IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
'use strict';

const [ids, bind, portArg, leaf] = process.argv.slice(2);
const crypto = require('crypto');
const express = require('express');

if (typeof fetch !== 'function') {
  console.error('nodefetch.js: no global fetch (Node.js 18 or later is needed)');
  process.exit(2);
}
const name = process.env.OTEL_SERVICE_NAME || 'nodefetch';
const id = (tag, n) => (ids === 'plain' ? n
  : crypto.createHash('sha1').update(`${tag}:${n}`).digest('hex').slice(0, 12));

async function get(path) {
  const res = await fetch(`http://${leaf}${path}`, { signal: AbortSignal.timeout(10000) });
  await res.arrayBuffer();
  return res.status;
}

const app = express();
app.get('/front/:n', async (req, res) => {
  const n = req.params.n;
  let status = 200;
  try {
    for (const tag of ['b1', 'b2']) {
      if ((await get(`/${tag}/${id(tag, n)}`)) >= 500) status = 502;
    }
  } catch (e) {
    console.error(`${req.path}: ${e}`);
    status = 502;
  }
  res.status(status).type('text/plain').send(`${name} ${req.path} ${status}\n`);
});

const server = app.listen(Number(portArg), bind);
server.keepAliveTimeout = 120000;

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
