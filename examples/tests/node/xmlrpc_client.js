// Drives interop_server over XML-RPC with Node's `xmlrpc` package; prints one JSON line of results.
// Usage: node xmlrpc_client.js http://127.0.0.1:PORT/RPC2
'use strict';
const xmlrpc = require('xmlrpc');

const url = new URL(process.argv[2]);
const client = xmlrpc.createClient({ host: url.hostname, port: Number(url.port), path: url.pathname });

function call(method, params) {
  return new Promise((resolve) => {
    client.methodCall(method, params, (error, value) => {
      if (error) {
        resolve({ fault: error.faultCode !== undefined ? error.faultCode : String(error) });
      } else {
        resolve({ value });
      }
    });
  });
}

(async () => {
  const out = {};
  out.double = await call('double', [7]);
  out.add = await call('add', [2, 3]);
  out.echoString = await call('echo', ['héllo <&> 😀']);
  out.echoArray = await call('echo', [[1, 'two', true, 1.5]]);
  out.echoStruct = await call('echo', [{ a: 1, b: { c: [] } }]);
  out.echoNil = await call('echo', [null]);
  out.echoDate = await call('echo', [new Date(Date.UTC(1998, 6, 17, 14, 8, 55))]);
  out.echoBytes = await call('echo', [Buffer.from([0, 1, 255])]);
  out.fail = await call('fail', [42, 'custom']);
  out.unknown = await call('nope', []);
  out.badParams = await call('double', ['x']);
  out.explode = await call('explode', []);
  out.afterExplode = await call('double', [8]);
  out.listMethods = await call('system.listMethods', []);
  out.multicall = await call('system.multicall', [[
    { methodName: 'double', params: [1] },
    { methodName: 'nope', params: [] },
  ]]);
  // Dates and buffers are not JSON: describe them.
  if (out.echoDate.value instanceof Date) out.echoDate.value = out.echoDate.value.toISOString();
  if (Buffer.isBuffer(out.echoBytes.value)) out.echoBytes.value = Array.from(out.echoBytes.value);
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
