// libFuzzer target: parse::netlink_dump on arbitrary bytes. The first byte picks the protocol
// (its low bit: 0 TCP, 1 UDP); the rest is the dump. Either records or a socklab::Error —
// never a crash, a hang, a sanitizer report or another exception. With bit 1 of the first
// byte set, the rest goes to parse::exact_answer instead (the port doctor's reader of the
// answer about one socket; bit 2: also read its TCP_INFO).
#include <linux/tcp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto proto = (data[0] & 1) ? socklab::Proto::udp : socklab::Proto::tcp;
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    if (data[0] & 2) {
        // The port doctor's reader for the answer about one socket: a verdict of 0 or a
        // positive errno, nullopt (read on), or a ParseError.
        tcp_info info{};
        try {
            const auto verdict = socklab::parse::exact_answer(bytes, (data[0] & 4) ? &info : nullptr);
            if (verdict && *verdict < 0) __builtin_trap();
        } catch (const socklab::ParseError& e) {
            if (std::string_view(e.what()).rfind("failed to parse a sock_diag answer: ", 0) != 0)
                __builtin_trap();
        }
        return 0;
    }
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
