// Runs `interop_server --json-stdio` as a child process and talks to it the way VS Code talks to a language
// server: vscode-jsonrpc's StreamMessageReader/StreamMessageWriter (LSP `Content-Length` framing) over the
// child's stdout and stdin. Prints one JSON line of results.
// Usage: node vscode_jsonrpc_stdio_client.js PATH/TO/interop_server
'use strict';
const { spawn } = require('child_process');
const rpc = require('vscode-jsonrpc/node');

const child = spawn(process.argv[2], ['--json-stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal || code)));
const conn = rpc.createMessageConnection(
  new rpc.StreamMessageReader(child.stdout),
  new rpc.StreamMessageWriter(child.stdin));
const protocolErrors = [];
conn.onError(([error]) => protocolErrors.push(String(error && error.message || error)));

// Our side's handler, which interop_server's ask_client calls back.
const calledBack = [];
conn.onRequest('double', (n) => {
  calledBack.push(n);
  return n * 2;
});
conn.listen();

/** The result of a request, or its error as [code, message]. */
async function outcome(promise) {
  try {
    return { value: await promise };
  } catch (e) {
    if (e instanceof rpc.ResponseError) return { error: [e.code, e.message] };
    throw e;
  }
}

(async () => {
  const out = {};
  out.double = await outcome(conn.sendRequest('double', 7));
  out.add = await outcome(conn.sendRequest('add', 2, 3));
  out.addNamed = await outcome(conn.sendRequest('add', { a: 40, b: 2 }));
  // An object as the one positional param; the multi-byte text checks that Content-Length counts bytes.
  const value = { s: 'héllo 😀', l: [1, 'two', true, 1.5, null] };
  out.echo = await outcome(conn.sendRequest('echo', rpc.ParameterStructures.byPosition, value));
  // A message far larger than one pipe read (1.1 MB of UTF-8 from 800,000 characters).
  const big = 'é'.repeat(300000) + 'x'.repeat(500000);
  out.bigEcho = await outcome(conn.sendRequest('echo', big).then((v) => v === big));
  out.fail = await outcome(conn.sendRequest('fail', 42, 'custom message'));
  out.unknown = await outcome(conn.sendRequest('nope'));
  out.badParams = await outcome(conn.sendRequest('double', 'x'));
  out.explode = await outcome(conn.sendRequest('explode'));

  // Pipelined: the slow call is sent first, the quick one is answered first.
  const order = [];
  await Promise.all([
    conn.sendRequest('slow_bump', 300).then((v) => order.push(['slow_bump', v])),
    conn.sendRequest('double', 1).then((v) => order.push(['double', v])),
  ]);
  out.order = order;

  // 1,000 notifications, then a request: it runs once they all have.
  out.counterBefore = await outcome(conn.sendRequest('counter'));
  for (let i = 0; i < 1000; i++) conn.sendNotification('bump', 1);
  out.counter = await outcome(conn.sendRequest('counter'));

  // The server calls back into our handler, while another call goes on.
  const [asked, quick] = await Promise.all([
    outcome(conn.sendRequest('ask_client', 'double', [4])),
    outcome(conn.sendRequest('double', 5)),
  ]);
  out.askClient = asked;
  out.quickMeanwhile = quick;
  // A method our side does not handle: vscode-jsonrpc's own error comes back through the server unchanged.
  out.askClientUnknown = await outcome(conn.sendRequest('ask_client', 'triple', [4]));
  out.calledBack = calledBack;
  out.protocolErrors = protocolErrors;

  // Closing its stdin ends the server, cleanly.
  conn.dispose();
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  out.exit = await exited;
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  child.kill('SIGKILL');
  process.exit(1);
});
