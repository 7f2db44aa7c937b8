// ExternalAgents::Start (external_sampling.h): the gateway of a train or eval with task.mode
// external, configured from the agent: section, sending upstream through the run's client stack.
#include "tfgrpo/external_sampling.h"

namespace tfgrpo {

Result<std::unique_ptr<ExternalAgents>> ExternalAgents::Start(const Config& config, ChatClient& upstream,
                                                               RunStore* store) {
  GatewayOptions options;
  options.listen = config.agent.gateway.listen;
  options.public_url = config.agent.gateway.public_url;
  options.model_name = config.model.name;
  options.inject = config.agent.inject;
  options.keep_model = config.agent.keep_model;
  options.keep_temperature = config.agent.keep_temperature;
  options.max_turns = config.task.max_turns;
  options.max_tokens = config.model.max_tokens;
  options.store = store;
  auto gateway = StartGateway(options, upstream);
  if (!gateway.ok()) return gateway.status().WithContext("agent.gateway.listen");
  return std::make_unique<ExternalAgents>(config, std::move(gateway).value());
}

}  // namespace tfgrpo
