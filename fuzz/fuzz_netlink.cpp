// libFuzzer target: parse::netlink_dump on arbitrary bytes. The first byte picks the protocol
// (its low bit: 0 TCP, 1 UDP); the rest is the dump. Either records or a socklab::Error —
// never a crash, a hang, a sanitizer report or another exception.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto proto = (data[0] & 1) ? socklab::Proto::udp : socklab::Proto::tcp;
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    std::vector<socklab::SocketRecord> out;
    try {
        (void)socklab::parse::netlink_dump(bytes, proto, out);
    } catch (const socklab::Error&) {
        return 0;
    }
    for (const auto& r : out) {
        // What the parser promises about every record it returns.
        if (r.family != AF_INET && r.family != AF_INET6) __builtin_trap();
        if (r.proto != proto) __builtin_trap();
        if (r.state_name().empty()) __builtin_trap();
        (void)r.local_addr.to_string();
        if (r.tcp_info && proto != socklab::Proto::tcp) __builtin_trap();
    }
    return 0;
}
