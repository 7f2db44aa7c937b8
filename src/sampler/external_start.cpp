// ExternalAgents::Start (external_sampling.h): the gateway of a train or eval with task.mode
// external, configured from the agent: section, sending upstream through the run's client stack.
#include "tfgrpo/external_sampling.h"

namespace tfgrpo {

Result<std::unique_ptr<ExternalAgents>> ExternalAgents::Start(const Config& config, ChatClient& upstream,
                                                               RunStore* store) {
  // The gateway's own errors name agent.gateway.listen already.
  auto gateway = StartGateway(GatewayOptionsFor(config, store), upstream);
  if (!gateway.ok()) return gateway.status();
  return std::make_unique<ExternalAgents>(config, std::move(gateway).value());
}

}  // namespace tfgrpo
