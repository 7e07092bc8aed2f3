// msgpack5rpc (Neovim's Node client library) as a client of rpc-msgpack's server.
// Usage: node client.js HOST PORT. Asserts on the Node side; prints `ok` at the end.
'use strict';
const assert = require('assert');
const net = require('net');
const Session = require('msgpack5rpc');

const [host, port] = process.argv.slice(2);
const socket = net.connect(Number(port), host);
const session = new Session();
session.attach(socket, socket);

const request = (method, args) =>
  new Promise((resolve, reject) => session.request(method, args, (err, res) => (err ? reject(err) : resolve(res))));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The server calls back into us through `call_back`.
session.on('request', (method, args, response) => {
  if (method === 'js_double') response.send(args[0] * 2);
  else response.send([-32601, 'no method ' + method], true);
});

(async () => {
  // The double pair.
  assert.strictEqual(await request('double', [8]), 16);

  // Pipelined requests, all answered and matched by id.
  const ns = [...Array(300).keys()];
  assert.deepStrictEqual(await Promise.all(ns.map((i) => request('double', [i]))), ns.map((i) => 2 * i));

  // A slow call does not hold up a fast one sent after it.
  const order = [];
  await Promise.all([
    request('sleep', [300]).then(() => order.push('slow')),
    request('double', [1]).then(() => order.push('fast')),
  ]);
  assert.deepStrictEqual(order, ['fast', 'slow']);

  // A notification, then what it left behind.
  session.notify('record', ['from node']);
  let notes = [];
  for (let i = 0; i < 100 && notes.length === 0; i++) {
    notes = await request('notes', []);
    if (notes.length === 0) await sleep(20);
  }
  assert.deepStrictEqual(notes, ['from node']);

  // Error replies are [code, message].
  await assert.rejects(request('no_such_method', []), (err) => {
    assert.strictEqual(err[0], -32601);
    assert.match(err[1], /no_such_method/);
    return true;
  });
  await assert.rejects(request('fail', [42, 'my fault']), (err) => {
    assert.deepStrictEqual(err, [42, 'my fault']);
    return true;
  });

  // Values: bin stays bin, maps and nesting survive.
  const bytes = await request('echo', [Buffer.from([0, 255, 1])]);
  assert.ok(Buffer.isBuffer(bytes) && bytes.equals(Buffer.from([0, 255, 1])), String(bytes));
  assert.deepStrictEqual(await request('echo', [{ a: [1, null, 'x'], b: true }]), { a: [1, null, 'x'], b: true });

  // Both directions: the server's handler calls our `js_double` while we wait for its answer.
  assert.strictEqual(await request('call_back', ['js_double', [21]]), 42);

  console.log('ok');
  socket.destroy();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
