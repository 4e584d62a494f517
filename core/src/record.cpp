#include "socklab/record.hpp"

#include <array>
#include <cstring>

#include "socklab/event.hpp"

namespace socklab {

std::string_view timer_name(TimerKind t) noexcept {
    switch (t) {
        case TimerKind::none: return "off";
        case TimerKind::retransmit: return "on";
        case TimerKind::keepalive: return "keepalive";
        case TimerKind::time_wait: return "timewait";
        case TimerKind::zero_window_probe: return "persist";
    }
    return "unknown";
}

SocketKey key_of(const SocketRecord& r) noexcept {
    return SocketKey{r.proto, r.family, r.local_addr, r.local_port, r.remote_addr, r.remote_port};
}

SocketKey peer_key(const SocketKey& k) noexcept {
    return SocketKey{k.proto, k.family, k.remote_addr, k.remote_port, k.local_addr, k.local_port};
}

std::size_t SocketKeyHash::operator()(const SocketKey& k) const noexcept {
    // FNV-1a over the fields that vary; cheap and good enough for a hash map key.
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= b[i];
            h *= 1099511628211ull;
        }
    };
    const std::uint8_t head[2] = {static_cast<std::uint8_t>(k.proto), k.family};
    mix(head, sizeof head);
    mix(k.local_addr.bytes.data(), k.local_addr.bytes.size());
    mix(&k.local_port, sizeof k.local_port);
    mix(k.remote_addr.bytes.data(), k.remote_addr.bytes.size());
    mix(&k.remote_port, sizeof k.remote_port);
    return static_cast<std::size_t>(h);
}

std::string_view TransitionEvent::comm_view() const noexcept {
    return {comm.data(), ::strnlen(comm.data(), comm.size())};
}

}  // namespace socklab
