#pragma once
// One TCP state transition as the tracepoint sock:inet_sock_set_state reports it. The same
// plain record is filled by the tracer and read by history, the CLI, the labs and the viewer.
#include <array>
#include <cstdint>
#include <string_view>

#include "socklab/address.hpp"

namespace socklab {

struct TransitionEvent {
    std::uint64_t time_ns = 0;   // kernel timestamp, CLOCK_MONOTONIC (instance clock "mono")
    std::uint32_t cpu = 0;
    std::int32_t pid = 0;        // current task when the state changed (0: softirq/idle)
    std::array<char, 16> comm{}; // its command, NUL-terminated
    std::uint64_t skaddr = 0;    // kernel address of the socket: the key until ports are known
    std::uint8_t family = 0;     // AF_INET / AF_INET6
    std::uint8_t protocol = 0;   // IPPROTO_TCP
    IpAddr local_addr;           // saddr
    std::uint16_t local_port = 0;  // sport (0 in the SYN_SENT event)
    IpAddr remote_addr;          // daddr
    std::uint16_t remote_port = 0;
    std::uint8_t old_state = 0;  // kernel state numbers (state.hpp)
    std::uint8_t new_state = 0;
    std::uint64_t old_state_ns = 0;  // time spent in old_state; 0 when not seen entering it

    [[nodiscard]] std::string_view comm_view() const noexcept;
};

}  // namespace socklab
