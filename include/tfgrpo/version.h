// The release of this build, as `tfgrpo --version` prints it and library artifacts record it.
#pragma once

#include <string_view>

namespace tfgrpo {

inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace tfgrpo
