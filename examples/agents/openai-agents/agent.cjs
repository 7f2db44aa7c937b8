// A small math agent on the OpenAI Agents SDK (`@openai/agents`), which calls the Responses API.
// The SDK's OpenAI client reads OPENAI_BASE_URL and OPENAI_API_KEY; under tfgrpo they point at
// its gateway, in production at the provider or at `tfgrpo serve`. Nothing here knows about tfgrpo.
const { Agent, run, tool, setTracingDisabled } = require('@openai/agents');
const { z } = require('zod');

// Traces would go to OpenAI's tracing endpoint with the same key; this agent keeps to one endpoint.
setTracingDisabled(true);

const findNumbers = tool({
  name: 'find_numbers',
  description: 'Lists the numbers that occur in a text, in order, signs included.',
  parameters: z.object({ text: z.string() }),
  execute: async ({ text }) => JSON.stringify(text.match(/-?\d+(?:\.\d+)?/g) ?? []),
});

const agent = new Agent({
  name: 'Math assistant',
  instructions: 'You are a careful math assistant. Use the tools when they help. ' +
    'End with the final answer in \\boxed{}.',
  model: 'gpt-4.1-mini',
  tools: [findNumbers],
});

// The problem: $TFGRPO_PROBLEM, else the task's JSON line on stdin.
function readProblem() {
  if (process.env.TFGRPO_PROBLEM) return process.env.TFGRPO_PROBLEM;
  const line = require('node:fs').readFileSync(0, 'utf8').trim();
  return line.startsWith('{') ? JSON.parse(line).problem : line;
}

run(agent, readProblem(), { maxTurns: 8 })
  .then((result) => console.log(result.finalOutput))  // the answer: standard output
  .catch((err) => { console.error(err.message); process.exit(1); });
