// A JSON-RPC server written with vscode-jsonrpc, for our duplex client to call: the interop methods the tests
// use, plus calls and notifications back into the client's own handler.
//
// Usage: node vscode_jsonrpc_server.js tcp     listens on 127.0.0.1 at a port the OS picks and prints the port
//                                              (SocketMessageReader/Writer: LSP `Content-Length` framing)
//        node vscode_jsonrpc_server.js stdio   serves one connection on stdin/stdout (StreamMessageReader/Writer)
'use strict';
const net = require('net');
const rpc = require('vscode-jsonrpc/node');

/** Registers the methods on one connection; each connection has its own counter. */
function serve(conn) {
  let counter = 0;
  conn.onRequest('double', (n) => n * 2);
  conn.onRequest('add', (a, b) => a + b);
  conn.onRequest('echo', (value) => value);
  conn.onRequest('fail', (code, message) => {
    throw new rpc.ResponseError(code, message);
  });
  conn.onRequest('explode', () => {
    throw new Error('boom');
  });
  conn.onRequest('counter', () => counter);
  conn.onRequest('slow_bump', (ms) => new Promise((resolve) => setTimeout(() => resolve(++counter), ms)));
  conn.onNotification('bump', (n) => {
    counter += n;
  });
  // Calls `method` with the array `params` on the client (its own handler) and answers with its answer; an
  // error answer (a ResponseError) is passed on unchanged.
  conn.onRequest('ask_client', (method, params) =>
    conn.sendRequest(method, rpc.ParameterStructures.byPosition, ...params));
  // Sends the client a notification, then answers null.
  conn.onRequest('notify_client', async (method, params) => {
    await conn.sendNotification(method, rpc.ParameterStructures.byPosition, ...params);
    return null;
  });
  conn.onError(([error]) => process.stderr.write(`vscode-jsonrpc server: protocol error: ${error && error.message}\n`));
  conn.listen();
}

if (process.argv[2] === 'stdio') {
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(process.stdin),
    new rpc.StreamMessageWriter(process.stdout));
  conn.onClose(() => process.exit(0));
  serve(conn);
} else if (process.argv[2] === 'tcp') {
  const server = net.createServer((socket) => {
    serve(rpc.createMessageConnection(new rpc.SocketMessageReader(socket), new rpc.SocketMessageWriter(socket)));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else {
  process.stderr.write('usage: node vscode_jsonrpc_server.js tcp|stdio\n');
  process.exit(2);
}
