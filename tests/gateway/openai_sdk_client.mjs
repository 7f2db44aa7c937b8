// Calls the agent gateway with the real `openai` npm package, the way an agent would: configured
// only by OPENAI_BASE_URL / OPENAI_API_KEY. A chat completion, the same streamed through the SDK's
// stream helper (which rebuilds the message, tool calls included, from our chunks and fails on a
// malformed one), a Responses call, the model list, and a call with a wrong key. The package is
// loaded from $TFGRPO_NPM_DIR (scripts/install-test-npm.sh). Prints one JSON line.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.TFGRPO_NPM_DIR}/node_modules/`);
const { OpenAI } = require('openai');

const client = new OpenAI({ maxRetries: 0 });
const tools = [{ type: 'function', function: { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
const messages = [{ role: 'user', content: 'Find the answer.' }];

const plain = await client.chat.completions.create({ model: 'gpt-4o', messages, tools, temperature: 0 });

const runner = client.chat.completions.stream({ model: 'gpt-4o', messages, tools, stream_options: { include_usage: true } });
const streamed = await runner.finalChatCompletion();

const response = await client.responses.create({ model: 'gpt-4o', instructions: 'Be brief.', input: 'Hi' });
const models = await client.models.list();

let refusal = null;
try {
  const baseURL = process.env.OPENAI_BASE_URL.replace(/\/r\/[^/]+\//, '/r/wrong-token/');
  await new OpenAI({ apiKey: 'wrong-token', baseURL, maxRetries: 0 }).chat.completions.create({ model: 'x', messages });
} catch (e) {
  refusal = { status: e.status, code: e.code };
}

console.log(JSON.stringify({
  plain_message: plain.choices[0].message,
  plain_finish: plain.choices[0].finish_reason,
  streamed_message: streamed.choices[0].message,
  streamed_finish: streamed.choices[0].finish_reason,
  streamed_usage: streamed.usage ?? null,
  response_status: response.status,
  response_calls: response.output.filter((i) => i.type === 'function_call').map((i) => i.name),
  models: models.data.map((m) => m.id),
  refusal,
}));
