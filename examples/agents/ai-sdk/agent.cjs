// A small math agent on the Vercel AI SDK (`ai` with `@ai-sdk/openai`): streamText with a tool,
// up to 8 steps. The provider calls the Responses API and reads OPENAI_BASE_URL and
// OPENAI_API_KEY; under tfgrpo they point at its gateway, in production at the provider or at
// `tfgrpo serve`. Nothing here knows about tfgrpo.
const { streamText, tool, stepCountIs } = require('ai');
const { openai } = require('@ai-sdk/openai');
const { z } = require('zod');

const findNumbers = tool({
  description: 'Lists the numbers that occur in a text, in order, signs included.',
  inputSchema: z.object({ text: z.string() }),
  execute: async ({ text }) => JSON.stringify(text.match(/-?\d+(?:\.\d+)?/g) ?? []),
});

// The problem: $TFGRPO_PROBLEM, else the task's JSON line on stdin.
function readProblem() {
  if (process.env.TFGRPO_PROBLEM) return process.env.TFGRPO_PROBLEM;
  const line = require('node:fs').readFileSync(0, 'utf8').trim();
  return line.startsWith('{') ? JSON.parse(line).problem : line;
}

async function main() {
  const result = streamText({
    model: openai('gpt-4.1-mini'),
    system: 'You are a careful math assistant. Use the tools when they help. ' +
      'End with the final answer in \\boxed{}.',
    prompt: readProblem(),
    tools: { find_numbers: findNumbers },
    stopWhen: stepCountIs(8),
    onError: ({ error }) => { throw error; },
  });
  console.log(await result.text);  // the answer (the last step's text): standard output
}

main().catch((err) => { console.error(err.message); process.exit(1); });
