// receiver.js -- an OTLP/HTTP traces receiver for the export tests. It
// decodes each request with OpenTelemetry's own generated types (the
// protobufjs code that @opentelemetry/otlp-transformer generates from
// opentelemetry-proto): protobuf with ExportTraceServiceRequest.decode, and
// OTLP/JSON by checking it against the same type (fromObject, with its hex
// ids as the JSON mapping defines them). Every span it gets is written as
// one JSON line to OUT, the same shape for both encodings:
//   {resource: {k: v}, traceId, spanId, parentSpanId, name, kind,
//    start, end, attributes: {k: v}, status: {code, message}}
// with ids in hex, times as decimal strings, and attribute values typed as
// {string|int|double|bool|array: ...}.
//
// usage: node receiver.js PORT OUT [FAIL_FIRST [STATUS]]
//   answers the first FAIL_FIRST requests with STATUS (default 503) and
//   "Retry-After: 1"; prints "listening" when ready.
'use strict';
const http = require('http');
const fs = require('fs');
const zlib = require('zlib');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const Resp = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
const [port, out, failFirst, failStatus] = [Number(process.argv[2]), process.argv[3],
  Number(process.argv[4] || 0), Number(process.argv[5] || 503)];
let seen = 0;

function hex(b) { return Buffer.from(b || []).toString('hex'); }

function value(v) {
  if (v.stringValue !== undefined && v.stringValue !== null) return { string: v.stringValue };
  if (v.intValue !== undefined && v.intValue !== null) return { int: String(v.intValue) };
  if (v.doubleValue !== undefined && v.doubleValue !== null) return { double: Number(v.doubleValue) };
  if (v.boolValue !== undefined && v.boolValue !== null) return { bool: !!v.boolValue };
  if (v.arrayValue) return { array: (v.arrayValue.values || []).map(value) };
  if (v.kvlistValue) return { kvlist: attrs(v.kvlistValue.values) };
  throw new Error('a value of no known type: ' + JSON.stringify(v));
}

function attrs(kvs) {
  const o = {};
  for (const kv of kvs || []) {
    if (kv.key in o) throw new Error('attribute twice: ' + kv.key);
    o[kv.key] = value(kv.value);
  }
  return o;
}

// A decoded request (protobufjs message) as lines.
function lines(msg) {
  const obj = Req.toObject(msg, { longs: String, enums: Number, bytes: Array, defaults: true, oneofs: false });
  const res = [];
  for (const rs of obj.resourceSpans) {
    const resource = attrs(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans) {
      if (!ss.scope || ss.scope.name !== 'wirespan') throw new Error('scope: ' + JSON.stringify(ss.scope));
      for (const s of ss.spans) {
        res.push(JSON.stringify({
          resource, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId),
          name: s.name, kind: s.kind, start: String(s.startTimeUnixNano), end: String(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          status: { code: s.status ? s.status.code : 0, message: s.status ? s.status.message : '' },
        }));
      }
    }
  }
  return res;
}

// OTLP/JSON: ids are hex (not base64 as protobuf's canonical JSON), enums
// numbers, 64-bit integers strings. Turn the ids into bytes and let the
// generated type read it: a field it does not know is an error here.
function fromJson(text) {
  const j = JSON.parse(text);
  const known = {
    req: ['resourceSpans'], rs: ['resource', 'scopeSpans', 'schemaUrl'], ss: ['scope', 'spans', 'schemaUrl'],
    span: ['traceId', 'spanId', 'parentSpanId', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano',
      'attributes', 'status', 'traceState', 'flags', 'events', 'links', 'droppedAttributesCount'],
  };
  const only = (o, keys, what) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw new Error(`unknown field ${what}.${k}`);
  };
  only(j, known.req, 'request');
  for (const rs of j.resourceSpans) {
    only(rs, known.rs, 'resourceSpans');
    for (const ss of rs.scopeSpans) {
      only(ss, known.ss, 'scopeSpans');
      for (const s of ss.spans) {
        only(s, known.span, 'span');
        for (const k of ['startTimeUnixNano', 'endTimeUnixNano'])
          if (typeof s[k] !== 'string') throw new Error(`${k} is not a string`);
        for (const k of ['traceId', 'spanId', 'parentSpanId'])
          if (s[k] !== undefined) s[k] = Buffer.from(s[k], 'hex');
      }
    }
  }
  return Req.fromObject(j); // throws where a field has the wrong type
}

http.createServer((req, rsp) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    seen++;
    if (seen <= failFirst) {
      rsp.writeHead(failStatus, { 'Retry-After': '1' });
      rsp.end();
      return;
    }
    try {
      if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      const type = req.headers['content-type'];
      let msg;
      if (type === 'application/x-protobuf') msg = Req.decode(body);
      else if (type === 'application/json') msg = fromJson(body.toString('utf8'));
      else throw new Error('content type ' + type);
      fs.appendFileSync(out, lines(msg).map((l) => l + '\n').join(''));
      if (type === 'application/json') {
        rsp.writeHead(200, { 'Content-Type': 'application/json' });
        rsp.end('{}');
      } else {
        rsp.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
        rsp.end(Buffer.from(Resp.encode(Resp.create({})).finish()));
      }
    } catch (e) {
      fs.appendFileSync(out, JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
      rsp.writeHead(400);
      rsp.end(String(e));
    }
  });
}).listen(port, '127.0.0.1', () => console.log('listening'));
