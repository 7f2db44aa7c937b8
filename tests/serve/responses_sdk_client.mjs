// Calls `tfgrpo serve`'s POST /v1/responses with the real `openai` npm package, as an app on the
// OpenAI Agents SDK or the Vercel AI SDK would: plain, `stream: true` read event by event, the
// SDK's stream helper (which rebuilds the Response from the events and fails on any event out of
// place), and a refused field. Reads OPENAI_BASE_URL / OPENAI_API_KEY like every OpenAI client;
// the package is loaded from $TFGRPO_NPM_DIR (scripts/install-test-npm.sh). Prints one JSON line.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.TFGRPO_NPM_DIR}/node_modules/`);
const { OpenAI } = require('openai');

const client = new OpenAI({ maxRetries: 0 });

if (process.argv[3] === 'tools') {
  // A function tool offered; the upstream answers with a call, plain and streamed.
  const toolRequest = {
    model: 'sim-1',
    input: process.argv[2],
    tools: [{ type: 'function', name: 'weather', strict: false,
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
  };
  const calls = (response) => response.output.filter((i) => i.type === 'function_call')
    .map((i) => ({ call_id: i.call_id, name: i.name, arguments: i.arguments }));
  const plainCalls = calls(await client.responses.create(toolRequest));
  const streamCalls = calls(await client.responses.stream(toolRequest).finalResponse());
  console.log(JSON.stringify({ plain_calls: plainCalls, stream_calls: streamCalls }));
  process.exit(0);
}
const request = { model: 'sim-1', instructions: 'Answer briefly.', input: process.argv[2] };
const textOf = (response) =>
  response.output.filter((i) => i.type === 'message').flatMap((i) => i.content).map((c) => c.text).join('');

const plain = await client.responses.create(request);

const types = [];
const sequence = [];
let deltas = '';
let completed = null;
for await (const event of await client.responses.create({ ...request, stream: true })) {
  types.push(event.type);
  sequence.push(event.sequence_number);
  if (event.type === 'response.output_text.delta') deltas += event.delta;
  if (event.type === 'response.completed') completed = event.response;
}

const helper = client.responses.stream(request);
const final = await helper.finalResponse();

let refusal = null;
try {
  await client.responses.create({ ...request, previous_response_id: 'resp_123' });
} catch (err) {
  refusal = { status: err.status, param: err.param ?? err.error?.param, code: err.code ?? err.error?.code };
}

console.log(JSON.stringify({
  plain_id: plain.id,
  plain_status: plain.status,
  plain_text: plain.output_text,
  plain_usage: plain.usage,
  types,
  sequence,
  deltas,
  completed_text: completed ? textOf(completed) : null,
  final_text: final.output_text,
  final_status: final.status,
  refusal,
}));
