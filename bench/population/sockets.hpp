#pragma once
// Loopback connections in bulk: listeners, connected pairs, and TIME_WAIT leftovers.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "socklab/fd.hpp"

namespace socklab::bench {

using Clock = std::chrono::steady_clock;

// An IPv4 endpoint; `addr` in host byte order (0x7f000001 is 127.0.0.1).
struct Endpoint {
    std::uint32_t addr = 0;
    std::uint16_t port = 0;
};

[[nodiscard]] constexpr std::uint32_t loopback(std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept {
    return (127u << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

// A listening socket on `where` (port 0: the kernel picks one). `where` is updated with the
// port actually bound. Throws socklab::Error.
[[nodiscard]] UniqueFd listen_on(Endpoint& where, int backlog);

struct Pair {
    UniqueFd client;
    UniqueFd server;
};

// Open `count` connections to the listener `listen_fd` bound at `to`, accepting each, and
// append them to `out`. Works in batches smaller than the backlog so no SYN is ever dropped.
void connect_pairs(int listen_fd, const Endpoint& to, std::size_t count, std::vector<Pair>& out,
                   Clock::time_point deadline);

// Half-close every client (shutdown SHUT_WR) and wait until each server has seen the FIN:
// the clients sit in FIN_WAIT2 and the servers in CLOSE_WAIT for as long as the fds live.
void half_close(std::vector<Pair>& pairs, Clock::time_point deadline);

// Make `count` TIME_WAIT sockets through the listener: connect, accept, the client closes
// first, the server closes after seeing the FIN. No descriptor is left; the kernel keeps the
// client's timewait socket for 60 s.
void make_time_wait(int listen_fd, const Endpoint& to, std::size_t count, Clock::time_point deadline);

}  // namespace socklab::bench
