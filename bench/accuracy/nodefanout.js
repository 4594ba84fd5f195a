// The service of the node-fanout chain: express on Node.js. The handler for
// /front/N makes TWO HTTP calls at once with Promise.all (GET /b1/ID and
// GET /b2/ID) through one `new http.Agent({keepAlive: true, maxSockets: 4})`
// (beyond 4 calls in flight, calls wait in the agent's queue for a socket),
// then awaits a Redis GET k:ID over one ioredis connection (commands of
// concurrent requests share it, replies come back in order), then answers.
// No OpenTelemetry here and no traceparent: the harness builds the ground
// truth from the request numbers.
//
// usage: node nodefanout.js IDS BIND PORT LEAF_HOST:PORT REDIS_HOST:PORT
//   IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
'use strict';

const [ids, bind, portArg, leaf, redisAddr] = process.argv.slice(2);
const crypto = require('crypto');
const http = require('http');
const express = require('express');
const Redis = require('ioredis');

const name = process.env.OTEL_SERVICE_NAME || 'nodefanout';
const id = (tag, n) => (ids === 'plain' ? n
  : crypto.createHash('sha1').update(`${tag}:${n}`).digest('hex').slice(0, 12));
const [leafHost, leafPort] = leaf.split(':');
const [redisHost, redisPort] = redisAddr.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const redis = new Redis({ host: redisHost, port: Number(redisPort), enableAutoPipelining: false });

function httpGet(path) {
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

const app = express();
app.get('/front/:n', async (req, res) => {
  const n = req.params.n;
  let status = 200;
  try {
    const codes = await Promise.all([httpGet(`/b1/${id('b1', n)}`), httpGet(`/b2/${id('b2', n)}`)]);
    if (codes.some((c) => c >= 500)) status = 502;
    await redis.get(`k:${id('k', n)}`);
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
  redis.disconnect();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
