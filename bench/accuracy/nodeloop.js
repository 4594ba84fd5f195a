// The service of the node-agent, node-fanout and node-fetch chains: express
// on Node.js. HTTP calls go through one `new http.Agent({keepAlive: true,
// maxSockets: 4})` (beyond 4 calls in flight, calls wait in the agent's
// queue for a socket), Redis commands over one ioredis connection (commands
// of concurrent requests share it, replies come back in order). The handler
// for /front/N, by MODE:
//
//   agent:   awaits a Redis GET k:ID, then GET /b1/ID, then answers
//   fanout:  makes TWO HTTP calls at once with Promise.all (GET /b1/ID and
//            GET /b2/ID), then awaits a Redis GET k:ID, then answers
//   fetch:   calls with the built-in fetch instead (Node.js 18+; undici's
//            global dispatcher keeps its own keep-alive pool per origin, no
//            limit on connections), one call after the other: GET /b1/ID,
//            body read, then GET /b2/ID, then answers; no Redis
//
// No OpenTelemetry here and no traceparent: the harness builds the ground
// truth from the request numbers.
//
// usage: node nodeloop.js MODE IDS BIND PORT LEAF_HOST:PORT [REDIS_HOST:PORT]
//   IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
'use strict';

const [mode, ids, bind, portArg, leaf, redisAddr] = process.argv.slice(2);
const crypto = require('crypto');
const http = require('http');
const express = require('express');

if (!['agent', 'fanout', 'fetch'].includes(mode)) {
  console.error(`nodeloop.js: unknown mode ${mode}`);
  process.exit(2);
}
if (mode === 'fetch' && typeof fetch !== 'function') {
  console.error('nodeloop.js: no global fetch (Node.js 18 or later is needed)');
  process.exit(2);
}
const name = process.env.OTEL_SERVICE_NAME || `node${mode}`;
const id = (tag, n) => (ids === 'plain' ? n
  : crypto.createHash('sha1').update(`${tag}:${n}`).digest('hex').slice(0, 12));
const [leafHost, leafPort] = leaf.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
let redis = null;
if (mode !== 'fetch') {
  const Redis = require('ioredis');
  const [redisHost, redisPort] = redisAddr.split(':');
  redis = new Redis({ host: redisHost, port: Number(redisPort), enableAutoPipelining: false });
}

function agentGet(path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: leafHost, port: Number(leafPort), path, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function fetchGet(path) {
  const res = await fetch(`http://${leaf}${path}`, { signal: AbortSignal.timeout(10000) });
  await res.arrayBuffer();
  return res.status;
}

// the status codes of the request's HTTP calls, in the mode's way
async function calls(n) {
  const get = (tag) => `/${tag}/${id(tag, n)}`;
  if (mode === 'agent') {
    await redis.get(`k:${id('k', n)}`);
    return [await agentGet(get('b1'))];
  }
  if (mode === 'fanout') {
    const codes = await Promise.all([agentGet(get('b1')), agentGet(get('b2'))]);
    await redis.get(`k:${id('k', n)}`);
    return codes;
  }
  const codes = [];
  for (const tag of ['b1', 'b2']) codes.push(await fetchGet(get(tag)));
  return codes;
}

const app = express();
app.get('/front/:n', async (req, res) => {
  let status = 200;
  try {
    if ((await calls(req.params.n)).some((c) => c >= 500)) status = 502;
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
  if (redis) redis.disconnect();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
