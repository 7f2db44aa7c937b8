// Fuzzes the YAML config parser (`--config FILE`).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tfgrpo/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto config = tfgrpo::ParseConfig(yaml, "/fuzz/config.yaml");
  if (config.ok()) (void)tfgrpo::ConfigFingerprintJson(*config).dump();
  return 0;
}
