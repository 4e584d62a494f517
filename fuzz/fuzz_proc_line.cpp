// libFuzzer target: parse::proc_net_line on arbitrary text. The first byte picks the file the
// line came from (low two bits: tcp, tcp6, udp, udp6); the rest is the line. Either a record,
// nullopt for a header, or socklab::ParseError — never a crash or another exception.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto proto = (data[0] & 2) ? socklab::Proto::udp : socklab::Proto::tcp;
    const std::uint8_t family = (data[0] & 1) ? AF_INET6 : AF_INET;
    const std::string_view line(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const auto r = socklab::parse::proc_net_line(line, proto, family);
        if (r) {
            if (r->family != family || r->proto != proto) __builtin_trap();
            if (r->state == 0) __builtin_trap();
            (void)r->state_name();
            (void)r->remote_addr.to_string();
        }
    } catch (const socklab::ParseError& e) {
        if (std::string_view(e.what()).rfind("failed to parse", 0) != 0) __builtin_trap();
    }
    return 0;
}
