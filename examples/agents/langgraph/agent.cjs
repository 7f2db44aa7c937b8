// A small math agent as a LangGraph graph (`@langchain/langgraph`) over `@langchain/openai`:
// a model node and a tool node in a loop until the model answers without calling a tool.
// ChatOpenAI reads OPENAI_BASE_URL and OPENAI_API_KEY; under tfgrpo they point at its gateway,
// in production at the provider or at `tfgrpo serve`. Nothing here knows about tfgrpo.
const { StateGraph, MessagesAnnotation, START, END } = require('@langchain/langgraph');
const { ToolNode } = require('@langchain/langgraph/prebuilt');
const { ChatOpenAI } = require('@langchain/openai');
const { tool } = require('@langchain/core/tools');
const { SystemMessage, HumanMessage } = require('@langchain/core/messages');
const { z } = require('zod');

const findNumbers = tool(async ({ text }) => JSON.stringify(text.match(/-?\d+(?:\.\d+)?/g) ?? []), {
  name: 'find_numbers',
  description: 'Lists the numbers that occur in a text, in order, signs included.',
  schema: z.object({ text: z.string() }),
});
// Not `streaming: true`: with it, invoke() estimates token counts with tiktoken, whose encoding
// is downloaded on first use, and hangs where the agent has no internet access.
const model = new ChatOpenAI({ model: 'gpt-4.1-mini' }).bindTools([findNumbers]);

const graph = new StateGraph(MessagesAnnotation)
  .addNode('model', async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addNode('tools', new ToolNode([findNumbers]))
  .addEdge(START, 'model')
  .addConditionalEdges('model', (state) => (state.messages.at(-1).tool_calls?.length ? 'tools' : END))
  .addEdge('tools', 'model')
  .compile();

// The problem: $TFGRPO_PROBLEM, else the task's JSON line on stdin.
function readProblem() {
  if (process.env.TFGRPO_PROBLEM) return process.env.TFGRPO_PROBLEM;
  const line = require('node:fs').readFileSync(0, 'utf8').trim();
  return line.startsWith('{') ? JSON.parse(line).problem : line;
}

const system = 'You are a careful math assistant. Use the tools when they help. ' +
  'End with the final answer in \\boxed{}.';
graph.invoke({ messages: [new SystemMessage(system), new HumanMessage(readProblem())] }, { recursionLimit: 16 })
  .then((state) => console.log(state.messages.at(-1).content))  // the answer: standard output
  .catch((err) => { console.error(err.message); process.exit(1); });
