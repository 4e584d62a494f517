#pragma once
// Hand-made socket records, snapshots and traced events for tests of what consumes them
// (History, the viewer's frames): loopback IPv4, inode 1000 + local port (0 in TIME_WAIT),
// so every rule can be checked exactly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/record.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"

namespace socklab::test::samples {

inline constexpr auto kListen = static_cast<std::uint8_t>(TcpState::listen);
inline constexpr auto kEst = static_cast<std::uint8_t>(TcpState::established);
inline constexpr auto kSynSent = static_cast<std::uint8_t>(TcpState::syn_sent);
inline constexpr auto kFin1 = static_cast<std::uint8_t>(TcpState::fin_wait1);
inline constexpr auto kFin2 = static_cast<std::uint8_t>(TcpState::fin_wait2);
inline constexpr auto kTimeWait = static_cast<std::uint8_t>(TcpState::time_wait);
inline constexpr auto kCloseWait = static_cast<std::uint8_t>(TcpState::close_wait);
inline constexpr auto kClose = static_cast<std::uint8_t>(TcpState::close);

inline IpAddr v4(const char* text) {
    in_addr a{};
    ::inet_pton(AF_INET, text, &a);
    return IpAddr::v4(&a);
}

inline SocketRecord rec(std::uint16_t lport, std::uint16_t rport, std::uint8_t state,
                 const char* laddr = "127.0.0.1", const char* raddr = "127.0.0.1") {
    SocketRecord r;
    r.proto = Proto::tcp;
    r.family = AF_INET;
    r.state = state;
    r.local_addr = v4(laddr);
    r.local_port = lport;
    r.remote_addr = rport == 0 ? v4("0.0.0.0") : v4(raddr);
    r.remote_port = rport;
    r.inode = state == kTimeWait ? 0 : 1000u + lport;
    return r;
}

inline Snapshot snap(std::uint64_t t, std::vector<SocketRecord> rs) {
    Snapshot s;
    s.taken_ns = t;
    s.sockets = std::move(rs);
    return s;
}

inline TransitionEvent ev(std::uint64_t t, std::uint64_t skaddr, std::uint16_t lport, std::uint16_t rport,
                   std::uint8_t from, std::uint8_t to) {
    TransitionEvent e;
    e.time_ns = t;
    e.skaddr = skaddr;
    e.family = AF_INET;
    e.protocol = IPPROTO_TCP;
    e.local_addr = v4("127.0.0.1");
    e.local_port = lport;
    e.remote_addr = v4("127.0.0.1");
    e.remote_port = rport;
    e.old_state = from;
    e.new_state = to;
    e.pid = 42;
    std::strncpy(e.comm.data(), "client", e.comm.size() - 1);
    return e;
}

}  // namespace socklab::test::samples
