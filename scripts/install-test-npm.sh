#!/usr/bin/env bash
# Installs the real npm packages the tests run against (pinned versions): the MCP servers of
# tests/mcp, the `openai` SDK tests/serve calls `serve`'s /v1/responses with, and the agent
# frameworks of examples/agents (run with NODE_PATH=<dir>/node_modules), into a cache
# directory outside the source tree: $1, else $TFGRPO_MCP_NPM_DIR, else $HOME/.cache/tfgrpo-npm.
# The product never needs them. Versions run on node 20 (some declare engines >= 22; checked).
# Idempotent and quick when they are already there. Without node/npm it first tries Debian's
# nodejs and npm (scripts/install-deps.sh); failing that it says so and exits 0 (the tests then
# skip loudly).
set -euo pipefail
dir=${1:-${TFGRPO_MCP_NPM_DIR:-${HOME:-/tmp}/.cache/tfgrpo-npm}}
packages=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/server-filesystem@2026.8.31"
  "openai@7.60.0"
  "@openai/agents@0.20.0"
  "@langchain/langgraph@1.7.3"
  "@langchain/openai@1.6.0"
  "@langchain/core@1.4.0"
  "ai@7.0.185"
  "@ai-sdk/openai@4.0.126"
  "zod@4.6.7"
)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  "$(dirname "$0")/install-deps.sh" nodejs npm || true
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-test-npm: node/npm not found; the tests against npm packages (MCP servers, the openai SDK, the agent frameworks) will be skipped" >&2
  exit 0
fi
installed() {
  for p in "${packages[@]}"; do
    name=${p%@*}
    version=${p##*@}
    manifest="$dir/node_modules/$name/package.json"
    [ -f "$manifest" ] || return 1
    grep -q "\"version\": \"$version\"" "$manifest" || return 1
  done
}
mkdir -p "$dir"
installed && exit 0
# Two builds installing at once (parallel worktrees, ctest -j) must not interleave.
exec 9>"$dir/.install.lock"
flock 9
installed && exit 0
echo "install-test-npm: installing ${packages[*]} into $dir" >&2
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${packages[@]}" >&2
installed || { echo "install-test-npm: install finished but the packages are not in $dir" >&2; exit 1; }
