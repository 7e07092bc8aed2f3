// Runs `interop_server --json-stdio` as a child process and, over vscode-jsonrpc, sends it COUNT `ask_client`
// requests at once, each of which the server answers by calling this side's `double` handler: what a language
// server does when it asks the editor for something while the editor sends it many requests. Prints one JSON
// line: how many answers came within DEADLINE_MS, how many were right, and the distinct errors.
// Usage: node vscode_jsonrpc_callback_flood.js PATH/TO/interop_server COUNT DEADLINE_MS
'use strict';
const { spawn } = require('child_process');
const rpc = require('vscode-jsonrpc/node');

const [count, deadlineMs] = [Number(process.argv[3]), Number(process.argv[4])];
const child = spawn(process.argv[2], ['--json-stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
const conn = rpc.createMessageConnection(
  new rpc.StreamMessageReader(child.stdout),
  new rpc.StreamMessageWriter(child.stdin));
conn.onRequest('double', (n) => n * 2);
conn.listen();

const out = { answered: 0, correct: 0, errors: [] };
const calls = [];
for (let i = 0; i < count; i++) {
  calls.push(conn.sendRequest('ask_client', 'double', [i]).then(
    (v) => {
      out.answered++;
      if (v === 2 * i) out.correct++;
    },
    (e) => {
      out.answered++;
      const text = `${e.code} ${e.message}`;
      if (!out.errors.includes(text)) out.errors.push(text);
    }));
}
const deadline = new Promise((resolve) => setTimeout(resolve, deadlineMs));
Promise.race([Promise.all(calls), deadline]).then(() => {
  process.stdout.write(JSON.stringify(out) + '\n');
  child.kill('SIGKILL');
  process.exit(0);
});
