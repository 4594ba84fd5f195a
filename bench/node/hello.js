// An express "hello" service for bench/overhead.py node.
//   node hello.js PORT          the service alone (or under wirespan)
//   node hello.js PORT otel     instrumented with the OpenTelemetry JS SDK:
//                               http and express instrumentations, a batch
//                               span processor, an exporter that drops the
//                               batches (the SDK's own cost, no network: the
//                               least an SDK costs)
'use strict';
const port = Number(process.argv[2] || 18182);

if (process.argv[3] === 'otel') {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { Resource } = require('@opentelemetry/resources');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
  let exported = 0;
  const exporter = {
    export(spans, done) { exported += spans.length; done({ code: 0 }); },
    shutdown() { return Promise.resolve(); },
  };
  const provider = new NodeTracerProvider({
    resource: new Resource({ 'service.name': 'hello' }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  registerInstrumentations({ instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation()] });
  process.on('SIGTERM', () => {
    provider.shutdown().then(() => { process.stderr.write(`spans exported: ${exported}\n`); process.exit(0); });
  });
} else {
  process.on('SIGTERM', () => process.exit(0));
}

const express = require('express');
const app = express();
app.get('/hello', (req, res) => res.send('hello'));
app.listen(port, '127.0.0.1', () => process.stderr.write(`listening on ${port}\n`));
