// A small math agent on the official `openai` SDK: chat completions, streamed, with a tool loop.
// The SDK reads OPENAI_BASE_URL and OPENAI_API_KEY; under tfgrpo they point at its gateway, in
// production at the provider or at `tfgrpo serve`. Nothing here knows about tfgrpo.
const { OpenAI } = require('openai');

const SYSTEM = 'You are a careful math assistant. Use the tools when they help. ' +
  'End with the final answer in \\boxed{}.';
const TOOLS = [{
  type: 'function',
  function: {
    name: 'find_numbers',
    description: 'Lists the numbers that occur in a text, in order, signs included.',
    parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
}];
const findNumbers = ({ text }) => JSON.stringify(String(text).match(/-?\d+(?:\.\d+)?/g) ?? []);

// The problem: $TFGRPO_PROBLEM, else the task's JSON line on stdin.
function readProblem() {
  if (process.env.TFGRPO_PROBLEM) return process.env.TFGRPO_PROBLEM;
  const line = require('node:fs').readFileSync(0, 'utf8').trim();
  return line.startsWith('{') ? JSON.parse(line).problem : line;
}

async function main() {
  const client = new OpenAI();
  const messages = [{ role: 'system', content: SYSTEM }, { role: 'user', content: readProblem() }];
  for (let turn = 0; turn < 8; turn++) {
    const stream = client.chat.completions.stream({ model: 'gpt-4.1-mini', messages, tools: TOOLS });
    const reply = await stream.finalMessage();
    messages.push({ role: 'assistant', content: reply.content ?? null, tool_calls: reply.tool_calls });
    if (!reply.tool_calls?.length) {
      console.log(reply.content);  // the answer: standard output
      return;
    }
    for (const call of reply.tool_calls) {
      const output = call.function.name === 'find_numbers'
        ? findNumbers(JSON.parse(call.function.arguments)) : `Error: no tool ${call.function.name}`;
      messages.push({ role: 'tool', tool_call_id: call.id, content: output });
    }
  }
  throw new Error('no answer after 8 turns');
}

main().catch((err) => { console.error(err.message); process.exit(1); });
