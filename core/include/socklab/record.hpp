#pragma once
// One row of the kernel's socket table, as every source (netlink, /proc) produces it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "socklab/address.hpp"
#include "socklab/state.hpp"

namespace socklab {

// idiag_timer / the "tr" column of /proc/net/tcp.
enum class TimerKind : std::uint8_t {
    none = 0,
    retransmit = 1,
    keepalive = 2,
    time_wait = 3,
    zero_window_probe = 4,
};
// "off", "on" (retransmit), "keepalive", "timewait", "persist" — ss's words.
[[nodiscard]] std::string_view timer_name(TimerKind t) noexcept;

// The parts of struct tcp_info worth showing to a student.
struct TcpInfoLite {
    std::uint8_t state = 0;  // tcpi_state (CLOSE for a bound, not listening socket)
    std::uint8_t retransmits = 0;
    std::uint32_t rtt_us = 0;
    std::uint32_t rttvar_us = 0;
    std::uint32_t snd_cwnd = 0;
    std::uint32_t unacked = 0;
    std::uint32_t total_retrans = 0;
};

struct SocketRecord {
    Proto proto = Proto::tcp;
    std::uint8_t family = 0;  // AF_INET / AF_INET6
    std::uint8_t state = 0;   // kernel state number, see state.hpp
    IpAddr local_addr;
    std::uint16_t local_port = 0;
    IpAddr remote_addr;
    std::uint16_t remote_port = 0;
    std::uint32_t recv_q = 0;  // LISTEN: accept queue length; else bytes unread
    std::uint32_t send_q = 0;  // LISTEN: backlog; else bytes unacknowledged
    TimerKind timer = TimerKind::none;
    std::uint32_t timer_ms = 0;  // time left on the timer
    std::uint8_t retransmits = 0;
    std::uint32_t uid = 0;
    std::uint64_t inode = 0;   // 0 for TIME_WAIT / orphan mini-sockets and request sockets
    std::uint64_t cookie = 0;  // kernel socket cookie (0 from /proc)
    std::uint32_t ifindex = 0;
    std::optional<TcpInfoLite> tcp_info;

    [[nodiscard]] std::string_view state_name() const noexcept {
        return socklab::state_name(state, proto);
    }
};

// Identity of a connection across snapshots: protocol, family and the 4-tuple.
struct SocketKey {
    Proto proto = Proto::tcp;
    std::uint8_t family = 0;
    IpAddr local_addr;
    std::uint16_t local_port = 0;
    IpAddr remote_addr;
    std::uint16_t remote_port = 0;

    friend auto operator<=>(const SocketKey&, const SocketKey&) = default;
};

[[nodiscard]] SocketKey key_of(const SocketRecord& r) noexcept;
// The key the other end of a loopback connection has (local and remote swapped).
[[nodiscard]] SocketKey peer_key(const SocketKey& k) noexcept;

struct SocketKeyHash {
    std::size_t operator()(const SocketKey& k) const noexcept;
};

}  // namespace socklab
