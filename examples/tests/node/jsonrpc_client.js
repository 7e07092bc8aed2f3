// Drives interop_server over JSON-RPC 2.0 with Node's own `http` module (no package); prints one JSON line of
// results. Usage: node jsonrpc_client.js http://127.0.0.1:PORT/
'use strict';
const http = require('http');

const url = new URL(process.argv[2]);
const agent = new http.Agent({ keepAlive: true });

function post(payload) {
  const body = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null });
        });
      });
    req.on('error', reject);
    req.end(body);
  });
}

let nextId = 1;
async function call(method, params) {
  const { body } = await post({ jsonrpc: '2.0', method, params, id: nextId++ });
  return body.error ? { error: body.error.code } : { value: body.result };
}

(async () => {
  const out = {};
  out.double = await call('double', [7]);
  out.addNamed = await call('add', { a: 2, b: 3 });
  out.echo = await call('echo', [{ s: 'héllo 😀', l: [1, 'two', true, 1.5, null] }]);
  out.echoBytes = await call('echo', [{ $base64: 'AAH/' }]);
  out.fail = await call('fail', [42, 'custom']);
  out.unknown = await call('nope', []);
  out.badParams = await call('double', ['x']);
  out.explode = await call('explode', []);
  out.afterExplode = await call('double', [8]);
  out.notification = (await post({ jsonrpc: '2.0', method: 'bump', params: [1] })).status;
  const batch = await post([
    { jsonrpc: '2.0', method: 'double', params: [1], id: 'a' },
    { jsonrpc: '2.0', method: 'bump', params: [1] },
    { jsonrpc: '2.0', method: 'nope', id: 'b' },
  ]);
  out.batch = batch.body.map((r) => [r.id, r.result === undefined ? r.error.code : r.result]);
  process.stdout.write(JSON.stringify(out) + '\n');
  agent.destroy();
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
