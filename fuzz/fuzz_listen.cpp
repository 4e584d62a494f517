// libFuzzer target: `socklab export --listen ADDR:PORT`, parse_listen_address(). What must
// hold, for any input:
//  - it never crashes; a refusal says why in one line;
//  - an accepted text is numeric ADDR:PORT by an independent reading (inet_pton of the part
//    before the last ':', brackets exactly for IPv6; the port 1-5 digits, at most 65535) and
//    holds nothing civetweb's option string would read as more (',', letters past hex, 's');
//  - the canonical form it gives back parses again to the same address and port.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "socklab/exporter.hpp"

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool independent_accepts(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) return false;
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    const std::string host(text.substr(0, colon));
    const std::string_view port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned long v = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535) return false;
    unsigned char buf[16];
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
    return inet_pton(AF_INET, host.c_str(), buf) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string why;
    const auto got = socklab::exporter::parse_listen_address(text, &why);
    require(got.has_value() == independent_accepts(text));
    if (!got) {
        require(!why.empty() && why.find('\n') == std::string::npos);
        return 0;
    }
    require(text.find(',') == std::string_view::npos && text.find('s') == std::string_view::npos);
    const std::string canonical = got->to_string();
    const auto again = socklab::exporter::parse_listen_address(canonical);
    require(again.has_value());
    require(again->addr == got->addr && again->port == got->port);
    require(again->to_string() == canonical);
    return 0;
}
