#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>

#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"

namespace socklab {

std::uint64_t monotonic_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

Snapshot Source::snapshot(const Query& q) {
    Snapshot s;
    snapshot_into(q, s);
    return s;
}

bool matches(const Query& q, const SocketRecord& r) noexcept {
    if (r.proto == Proto::tcp && !q.tcp) return false;
    if (r.proto == Proto::udp && !q.udp) return false;
    if (r.family == AF_INET && !q.ipv4) return false;
    if (r.family == AF_INET6 && !q.ipv6) return false;
    if (!state_in_mask(q.states, r.state)) return false;
    if (q.port && r.local_port != *q.port && r.remote_port != *q.port) return false;
    return true;
}

bool dump_lists_bound_socket(std::span<const SocketRecord> dump, std::uint16_t port) noexcept {
    return std::any_of(dump.begin(), dump.end(), [port](const SocketRecord& r) {
        return r.proto == Proto::tcp && r.local_port == port && r.remote_port == 0 &&
               r.state == static_cast<std::uint8_t>(TcpState::bound_inactive);
    });
}

bool kernel_lists_bound_sockets(Source& src) {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw sys_error("create a socket to probe for BOUND_INACTIVE", errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw sys_error("bind a socket to probe for BOUND_INACTIVE", errno);
    Query q;
    q.udp = false;
    q.ipv6 = false;
    q.states = state_bit(TcpState::bound_inactive);
    q.port = ntohs(a.sin_port);
    return dump_lists_bound_socket(src.snapshot(q).sockets, *q.port);
}

std::unique_ptr<Source> make_default_source() {
    try {
        return make_netlink_source();
    } catch (const Error&) {
        return make_proc_source();
    }
}

}  // namespace socklab
