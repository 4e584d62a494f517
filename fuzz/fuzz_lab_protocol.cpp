// libFuzzer target: any bytes into the lab protocol readers must give a value or an error,
// never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "socklab/lab_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const auto line = socklab::parse_lab_line(bytes);
    if (!line && line.error.empty()) __builtin_trap();  // an error must say what was wrong
    const auto list = socklab::parse_lab_list(bytes);
    if (!list.error.empty() && !list.labs.empty()) __builtin_trap();
    return 0;
}
