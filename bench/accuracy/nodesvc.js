// One service of the event-loop chain: express on Node.js, calling other
// services over HTTP with a keep-alive agent and Redis with ioredis, one call
// after another (await), all on the one event-loop thread.
//
// The OpenTelemetry JS SDK instruments it (http and ioredis): its spans,
// written as JSON lines to TRUTH_FILE, are the ground truth wirespan's traces
// are scored against. It also propagates W3C traceparent, as instrumented
// services do; the harness scores wirespan with --no-traceparent, so that
// only kernel evidence counts.
//
// usage: node nodesvc.js NAME BIND PORT ROUTES_JSON TRUTH_FILE
//   ROUTES_JSON as for pychain.py: {"/api": ["redis://198.18.2.4:16410/GET k:{n}", "http://..."]}
//   ({n}: the request's last path segment; {h:TAG}: first 12 hex digits of sha1("TAG:" + n))
'use strict';

const [name, bind, portArg, routesArg, truthPath] = process.argv.slice(2);
const crypto = require('crypto');
const fs = require('fs');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { Resource } = require('@opentelemetry/resources');
const { ExportResultCode } = require('@opentelemetry/core');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis');

const hex = (n) => n.toString();
const ns = (t) => BigInt(t[0]) * 1000000000n + BigInt(t[1]);

// An exporter that appends one JSON line per span.
class FileExporter {
  constructor(path) { this.fd = fs.openSync(path, 'a'); }
  export(spans, done) {
    let out = '';
    for (const s of spans) {
      const ctx = s.spanContext();
      out += JSON.stringify({
        trace_id: ctx.traceId, span_id: ctx.spanId, parent_span_id: s.parentSpanId || '',
        kind: s.kind === 1 ? 'server' : s.kind === 2 ? 'client' : 'internal',
        name: s.name, service: name,
        start: hex(ns(s.startTime)), end: hex(ns(s.endTime)),
        attributes: s.attributes,
      }) + '\n';
    }
    fs.writeSync(this.fd, out);
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown() { fs.closeSync(this.fd); return Promise.resolve(); }
}

const provider = new NodeTracerProvider({ resource: new Resource({ 'service.name': name }) });
provider.addSpanProcessor(new BatchSpanProcessor(new FileExporter(truthPath), { scheduledDelayMillis: 200 }));
provider.register();
registerInstrumentations({
  instrumentations: [
    new HttpInstrumentation(),
    new IORedisInstrumentation({ dbStatementSerializer: (cmd, args) => [cmd, ...args.map(String)].join(' ') }),
  ],
});

// required after the instrumentations, so that they are patched
const http = require('http');
const express = require('express');
const Redis = require('ioredis');

const routes = JSON.parse(routesArg);
const agents = new Map();
const redises = new Map();

function agentFor(host, port) {
  const key = `${host}:${port}`;
  if (!agents.has(key)) agents.set(key, new http.Agent({ keepAlive: true }));
  return agents.get(key);
}

function redisFor(host, port) {
  const key = `${host}:${port}`;
  if (!redises.has(key)) redises.set(key, new Redis({ host, port, enableAutoPipelining: false, lazyConnect: false }));
  return redises.get(key);
}

function httpGet(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: u.pathname, agent: agentFor(u.hostname, u.port) },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      });
    req.on('error', reject);
  });
}

const app = express();
for (const [prefix, calls] of Object.entries(routes)) {
  app.get(`${prefix}/:n`, async (req, res) => {
    let status = 200;
    try {
      for (let call of calls) {
        const n = req.params.n;
        call = call.replaceAll('{n}', n).replace(/\{h:([^}]*)\}/g,
          (_, tag) => crypto.createHash('sha1').update(`${tag}:${n}`).digest('hex').slice(0, 12));
        if (call.startsWith('redis://')) {
          const u = new URL(call);
          const [cmd, ...args] = decodeURIComponent(u.pathname.slice(1)).split(' ');
          await redisFor(u.hostname, Number(u.port)).call(cmd, ...args);
        } else if ((await httpGet(call)) >= 500) {
          status = 502;
        }
      }
    } catch (e) {
      status = 502;
    }
    res.status(status).type('text/plain').send(`${name} ${req.path} ${status}\n`);
  });
}

const server = app.listen(Number(portArg), bind);
server.keepAliveTimeout = 60000;

function stop() {
  server.close();
  for (const r of redises.values()) r.disconnect();
  provider.shutdown().then(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
