#pragma once
// JSON forms of the core types, with the field names fixed by DESIGN.md.
#include <span>

#include <nlohmann/json.hpp>

#include "socklab/event.hpp"
#include "socklab/owners.hpp"
#include "socklab/record.hpp"

namespace socklab {

// proto, family ("ipv4"/"ipv6"), state, local_addr, local_port, remote_addr, remote_port,
// recv_q, send_q, inode, uid, timer, timer_ms, processes[{pid,command,user,fd}],
// plus cookie and tcp_info{rtt_us,rttvar_us,retransmits,snd_cwnd} when present.
[[nodiscard]] nlohmann::json to_json(const SocketRecord& r,
                                     std::span<const ProcessRef> owners = {});
// time_ns, pid, comm, family, local_addr, local_port, remote_addr, remote_port,
// old_state, new_state, old_state_ns.
[[nodiscard]] nlohmann::json to_json(const TransitionEvent& e);

[[nodiscard]] std::string_view family_name(std::uint8_t family) noexcept;  // "ipv4"/"ipv6"

}  // namespace socklab
