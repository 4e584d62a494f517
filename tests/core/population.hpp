#pragma once
// A varied, known socket population on loopback, built inside a private network namespace so
// fixed ports are safe and nothing else shows up. Used by the fixture recorder (which saves the
// kernel's view of it) and by the oracle test (which compares socklab with ss on it).
#include <cstdint>
#include <vector>

#include "socklab/fd.hpp"

namespace socklab::test::population {

// Ports of the population. The fixture tests assert on these, so changing one means
// re-recording the fixtures (tests/core/record_fixtures).
inline constexpr std::uint16_t kListen4 = 5001;       // 127.0.0.1 LISTEN + ESTABLISHED pair
inline constexpr std::uint16_t kFinWait2Orphan = 5002;  // client close(): FIN_WAIT2 (inode 0) / CLOSE_WAIT
inline constexpr std::uint16_t kTimeWait = 5003;      // client closes first: TIME_WAIT
inline constexpr std::uint16_t kSynSent = 5004;       // backlog 0, queue full: SYN_SENT
inline constexpr std::uint16_t kSynRecv = 5005;       // TCP_DEFER_ACCEPT: server SYN_RECV
inline constexpr std::uint16_t kBound = 5006;         // bind() only: BOUND_INACTIVE
inline constexpr std::uint16_t kFinWait2Owned = 5007;  // shutdown(SHUT_WR): FIN_WAIT2 with inode
inline constexpr std::uint16_t kFinWait1 = 5008;      // full buffers + shutdown: FIN_WAIT1
inline constexpr std::uint16_t kListenAny4 = 5009;    // 0.0.0.0 LISTEN
inline constexpr std::uint16_t kListen6 = 6001;       // ::1 LISTEN + ESTABLISHED pair
inline constexpr std::uint16_t kDualStack = 6002;     // [::] dual-stack, v4 client: v4-mapped
inline constexpr std::uint16_t kV6Only = 6003;        // [::] IPV6_V6ONLY LISTEN
inline constexpr std::uint16_t kUdp4 = 7001;          // 127.0.0.1 UNCONN
inline constexpr std::uint16_t kUdp4Conn = 7002;      // 127.0.0.1 connected to kUdp4
inline constexpr std::uint16_t kUdp6 = 7003;          // ::1 UNCONN
inline constexpr std::uint16_t kUdp6Conn = 7004;      // ::1 connected to kUdp6
inline constexpr std::uint16_t kUdpAny4 = 7005;       // 0.0.0.0 UNCONN
inline constexpr std::uint16_t kUdpAny6 = 7006;       // [::] UNCONN

struct Population {
    std::vector<UniqueFd> fds;  // every socket that must stay open for the states to hold
    std::uint16_t syn_sent_client_port = 0;
    std::uint16_t syn_recv_client_port = 0;
    std::uint16_t time_wait_client_port = 0;
    std::uint16_t orphan_client_port = 0;
    std::uint16_t mapped_client_port = 0;
};

// Build every state above and wait (bounded) until the kernel shows each one. Must run inside
// a network namespace of the caller's own (PrivateNetns): it binds fixed ports. Throws
// socklab::Error when a state does not appear in time.
Population build();

}  // namespace socklab::test::population
