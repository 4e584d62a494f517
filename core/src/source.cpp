#include <sys/socket.h>
#include <time.h>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

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

std::unique_ptr<Source> make_default_source() {
    try {
        return make_netlink_source();
    } catch (const Error&) {
        return make_proc_source();
    }
}

}  // namespace socklab
