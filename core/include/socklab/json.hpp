#pragma once
// JSON forms of the core types, with the field names fixed by docs/contracts.md.
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "socklab/event.hpp"
#include "socklab/owners.hpp"
#include "socklab/record.hpp"
#include "socklab/segment.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab {

// proto, family ("ipv4"/"ipv6"), state, local_addr, local_port, remote_addr, remote_port,
// recv_q, send_q, inode, uid, timer, timer_ms, processes[{pid,command,user,fd}],
// plus cookie and tcp_info{rtt_us,rttvar_us,retransmits,snd_cwnd} when present.
[[nodiscard]] nlohmann::json to_json(const SocketRecord& r,
                                     std::span<const ProcessRef> owners = {});
// time_ns, pid, comm, family, local_addr, local_port, remote_addr, remote_port,
// old_state, new_state, old_state_ns.
[[nodiscard]] nlohmann::json to_json(const TransitionEvent& e);

// {"kind":"segment", time_ns, src_addr, src_port, dst_addr, dst_port, flags:[names], seq,
// ack, len, win}: seq/ack relative to each sender's ISN when known (else raw).
[[nodiscard]] nlohmann::json to_json(const Segment& s);
// {"kind":"syscall", time_ns, pid, tid, comm, call, fd, result, error? (errno name),
// local_port?, remote_port? (when the descriptor resolved to a socket)}.
[[nodiscard]] nlohmann::json to_json(const SyscallEvent& c);
// The objects to_json() gives, written straight into `out` (the same keys and values, in the
// order listed above; the tests hold each to its to_json()). What `socklab trace --json` writes
// under churn, hundreds of thousands of objects a second: building an nlohmann::json for each
// cost more than everything else the tracer does. `with_kind` adds "kind":"transition".
void append_json(std::string& out, const TransitionEvent& e, bool with_kind = false);
void append_json(std::string& out, const Segment& s);
void append_json(std::string& out, const SyscallEvent& c);
// A JSON string of any bytes (a program's name is whatever it chose, cut at 15 bytes): `"`
// and `\` escaped, control characters as \u00XX, valid UTF-8 as it is, any other byte as
// U+FFFD. The line stays valid JSON where nlohmann's dump() would throw.
void append_json_string(std::string& out, std::string_view s);
// Reads what to_json(Segment) wrote (flags by name, seq/ack as given, relative). Throws
// ParseError on a missing or mistyped field.
[[nodiscard]] Segment segment_from_json(const nlohmann::json& j);

[[nodiscard]] std::string_view family_name(std::uint8_t family) noexcept;  // "ipv4"/"ipv6"

}  // namespace socklab
