#include "socklab/json.hpp"

#include <sys/socket.h>

namespace socklab {

std::string_view family_name(std::uint8_t family) noexcept {
    switch (family) {
        case AF_INET: return "ipv4";
        case AF_INET6: return "ipv6";
        default: return "unknown";
    }
}

nlohmann::json to_json(const SocketRecord& r, std::span<const ProcessRef> owners) {
    nlohmann::json j{
        {"proto", proto_name(r.proto)},
        {"family", family_name(r.family)},
        {"state", r.state_name()},
        {"local_addr", r.local_addr.to_string()},
        {"local_port", r.local_port},
        {"remote_addr", r.remote_addr.to_string()},
        {"remote_port", r.remote_port},
        {"recv_q", r.recv_q},
        {"send_q", r.send_q},
        {"inode", r.inode},
        {"uid", r.uid},
        {"timer", timer_name(r.timer)},
        {"timer_ms", r.timer_ms},
    };
    // Only netlink knows the cookie; /proc records leave the field out rather than print 0.
    if (r.cookie != 0) j["cookie"] = r.cookie;
    auto procs = nlohmann::json::array();
    for (const auto& p : owners)
        procs.push_back({{"pid", p.pid}, {"command", p.command}, {"user", p.user}, {"fd", p.fd}});
    j["processes"] = std::move(procs);
    if (r.tcp_info) {
        j["tcp_info"] = {{"state", state_name(r.tcp_info->state)},
                         {"rtt_us", r.tcp_info->rtt_us},
                         {"rttvar_us", r.tcp_info->rttvar_us},
                         {"retransmits", r.tcp_info->retransmits},
                         {"total_retrans", r.tcp_info->total_retrans},
                         {"snd_cwnd", r.tcp_info->snd_cwnd},
                         {"unacked", r.tcp_info->unacked}};
    }
    return j;
}

nlohmann::json to_json(const TransitionEvent& e) {
    return {
        {"time_ns", e.time_ns},
        {"pid", e.pid},
        {"comm", std::string(e.comm_view())},
        {"family", family_name(e.family)},
        {"local_addr", e.local_addr.to_string()},
        {"local_port", e.local_port},
        {"remote_addr", e.remote_addr.to_string()},
        {"remote_port", e.remote_port},
        {"old_state", state_name(e.old_state)},
        {"new_state", state_name(e.new_state)},
        {"old_state_ns", e.old_state_ns},
        {"skaddr", e.skaddr},
        {"cpu", e.cpu},
    };
}

}  // namespace socklab
