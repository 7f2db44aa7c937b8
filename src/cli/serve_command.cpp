// `tfgrpo serve`: the OpenAI-compatible proxy that adds the learned library to every chat
// completion. Reads keys from the environment, serves until SIGINT/SIGTERM, reloads on SIGHUP.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "tfgrpo/serve.h"

namespace tfgrpo::cli {

namespace {

struct ServeArgs {
  std::string experiences;
  std::string upstream;
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> model_map;
  std::string client_key_env;
  std::string upstream_key_env;
  bool pass_through_auth = false;
  double upstream_timeout_s = 600;
  int threads = 64;
  int max_connections = 512;
  int top_k = 0;
  std::string retrieval_method = "bm25";
  std::string embeddings_model = "text-embedding-3-small";
  std::string embeddings_url;
  std::string embeddings_key_env;
};

const char* NonEmptyEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int RunServe(const GlobalOptions& global, const ServeArgs& args) {
  ServeOptions options;
  options.experiences = args.experiences;
  options.upstream = args.upstream;
  options.pass_through_auth = args.pass_through_auth;
  options.upstream_timeout_s = args.upstream_timeout_s;
  options.threads = args.threads;
  options.max_connections = args.max_connections;
  options.top_k = args.top_k;
  options.retrieval_method = args.retrieval_method == "embeddings" ? RetrievalMethod::kEmbeddings : RetrievalMethod::kBm25;
  options.embeddings_model = args.embeddings_model;
  options.embeddings_url = args.embeddings_url;
  if (!args.embeddings_key_env.empty()) {
    const char* key = NonEmptyEnv(args.embeddings_key_env);
    if (key == nullptr) {
      return Fail("--embeddings-key-env " + args.embeddings_key_env + ": environment variable " +
                  args.embeddings_key_env + " is not set or empty");
    }
    options.embeddings_api_key = key;
  }

  Result<ListenAddress> listen = ParseListenAddress(args.listen);
  if (!listen.ok()) return Fail(listen.status().message());
  options.listen_host = listen->host;
  options.listen_port = listen->port;

  for (const std::string& m : args.model_map) {
    auto mapping = ParseModelMapping(m);
    if (!mapping.ok()) return Fail(mapping.status().message());
    options.model_map.push_back(*mapping);
  }

  if (!args.client_key_env.empty()) {
    const char* key = NonEmptyEnv(args.client_key_env);
    if (key == nullptr) {
      return Fail("--client-key-env " + args.client_key_env + ": environment variable " +
                  args.client_key_env + " is not set or empty");
    }
    options.client_api_key = key;
  }
  if (!IsLoopbackHost(options.listen_host) && options.client_api_key.empty()) {
    return Fail("--listen " + args.listen +
                " is not a loopback address: pass --client-key-env NAME so clients must present "
                "the key held in $NAME");
  }

  // As in the engine config: an explicit variable is used alone; the default falls back to
  // OPENAI_API_KEY.
  std::string key_source;
  if (!args.upstream_key_env.empty()) {
    if (const char* key = NonEmptyEnv(args.upstream_key_env)) {
      options.upstream_api_key = key;
      key_source = args.upstream_key_env;
    }
  } else if (const char* key = NonEmptyEnv("TFGRPO_API_KEY")) {
    options.upstream_api_key = key;
    key_source = "TFGRPO_API_KEY";
  } else if (const char* fallback = NonEmptyEnv("OPENAI_API_KEY")) {
    options.upstream_api_key = fallback;
    key_source = "OPENAI_API_KEY";
  }

  BlockTerminationSignals();
  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not end the process
  if (options.upstream_api_key.empty() && !options.pass_through_auth) {
    spdlog::warn("serve: no upstream key ({} unset); requests go upstream without Authorization",
                 args.upstream_key_env.empty() ? "TFGRPO_API_KEY and OPENAI_API_KEY"
                                               : args.upstream_key_env);
  }
  if (options.pass_through_auth && !options.client_api_key.empty()) {
    spdlog::warn(
        "serve: --pass-through-auth with --client-key-env forwards the proxy key upstream");
  }

  ProxyServer server(options);
  Status s = server.Start();
  if (!s.ok()) return Fail(s.message());
  auto lib = server.library();
  const std::string key_note = key_source.empty() ? "no upstream key" : "upstream key from " + key_source;
  // The line keeps ending in " experiences)": scripts wait for it.
  const std::string retrieval_note = options.top_k > 0 ? ", retrieval: top " + std::to_string(options.top_k) + " by " +
                                                             args.retrieval_method + " per request"
                                                       : "";
  std::printf("tfgrpo serve listening on %s (%s%s, %zu experiences)\n", server.base_url().c_str(),
              key_note.c_str(), retrieval_note.c_str(), lib ? lib->library.size() : size_t{0});
  std::fflush(stdout);
  WaitForTerminationSignal([&server] {
    spdlog::info("serve: SIGHUP, reloading the library");
    (void)server.Reload();
  });
  server.Stop();
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve",
      "OpenAI-compatible proxy: adds the experience library to every chat completion's system "
      "message and relays the rest to the upstream provider");
  cmd->add_option("--experiences", args->experiences, "Experience library file (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--upstream", args->upstream,
                  "Provider base URL including /v1, e.g. https://api.deepseek.com/v1")
      ->required();
  cmd->add_option("--listen", args->listen, "HOST:PORT to listen on")->capture_default_str();
  cmd->add_option("--model-map", args->model_map,
                  "FROM=TO: rewrite the request's model FROM to TO (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--client-key-env", args->client_key_env,
                  "Environment variable holding the key clients must send as a Bearer token "
                  "(required when listening on a non-loopback address)");
  cmd->add_option("--upstream-key-env", args->upstream_key_env,
                  "Environment variable holding the provider key (default TFGRPO_API_KEY, then "
                  "OPENAI_API_KEY)");
  cmd->add_flag("--pass-through-auth", args->pass_through_auth,
                "Forward the client's Authorization header instead of the provider key");
  cmd->add_option("--upstream-timeout-s", args->upstream_timeout_s,
                  "Seconds to wait for the provider's reply (for streams: longest silence)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads,
                  "Requests handled at once (GET /health and /metrics need no slot)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  // Below FD_SETSIZE with room for upstream connections: httplib checks sockets against it.
  cmd->add_option("--max-connections", args->max_connections,
                  "Client connections open at once; at the cap the longest-idle one is closed "
                  "to make room")
      ->capture_default_str()
      ->check(CLI::Range(1, 768));
  cmd->add_option("--top-k", args->top_k,
                  "Inject only the N experiences most relevant to the request's user messages "
                  "(0: the whole library)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--retrieval-method", args->retrieval_method,
                  "How --top-k ranks: bm25 (no model) or embeddings (POST {url}/embeddings)")
      ->capture_default_str()
      ->check(CLI::IsMember({"bm25", "embeddings"}));
  cmd->add_option("--embeddings-model", args->embeddings_model, "Embedding model for --retrieval-method embeddings")
      ->capture_default_str();
  cmd->add_option("--embeddings-url", args->embeddings_url,
                  "Base URL of the embeddings endpoint (default: --upstream)");
  cmd->add_option("--embeddings-key-env", args->embeddings_key_env,
                  "Environment variable holding the embeddings key (default: the upstream key)");
  cmd->callback([&global, args, runner] {
    *runner = [&global, args] { return RunServe(global, *args); };
  });
}

}  // namespace tfgrpo::cli
