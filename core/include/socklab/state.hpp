#pragma once
// TCP/UDP socket states: the kernel's numbers (include/net/tcp_states.h) and their names as
// `ss` prints them, without the dash. One table, every lookup bounds-checked.
#include <cstdint>
#include <optional>
#include <string_view>

namespace socklab {

enum class Proto : std::uint8_t { tcp, udp };

[[nodiscard]] std::string_view proto_name(Proto p) noexcept;  // "tcp" / "udp"

// Kernel state numbers. NEW_SYN_RECV is the request mini-socket the kernel keeps for a
// half-open connection; BOUND_INACTIVE (Linux >= 6.9) a socket that is bound but neither
// listening nor connected.
enum class TcpState : std::uint8_t {
    established = 1,
    syn_sent = 2,
    syn_recv = 3,
    fin_wait1 = 4,
    fin_wait2 = 5,
    time_wait = 6,
    close = 7,
    close_wait = 8,
    last_ack = 9,
    listen = 10,
    closing = 11,
    new_syn_recv = 12,
    bound_inactive = 13,
};

inline constexpr std::uint8_t kMaxKernelState = 13;

// Bit for one kernel state in a state mask (the same layout as inet_diag's idiag_states).
[[nodiscard]] constexpr std::uint32_t state_bit(std::uint8_t s) noexcept {
    return s <= kMaxKernelState ? (1u << s) : 0u;
}
[[nodiscard]] constexpr std::uint32_t state_bit(TcpState s) noexcept {
    return state_bit(static_cast<std::uint8_t>(s));
}

// Every state `ss -a` asks for: 1..12. BOUND_INACTIVE is asked for only on request.
inline constexpr std::uint32_t kAllStates = ((1u << 13) - 1) & ~1u;

// Name of a kernel state as ss prints it without the dash: "TIME_WAIT", "SYN_RECV" (also for
// NEW_SYN_RECV), "BOUND_INACTIVE". For UDP, CLOSE is "UNCONN". Out of range: "UNKNOWN".
[[nodiscard]] std::string_view state_name(std::uint8_t kernel_state,
                                          Proto proto = Proto::tcp) noexcept;

// One or two sentences for a student: what this state means and who is waiting for what.
[[nodiscard]] std::string_view state_explanation(std::uint8_t kernel_state,
                                                 Proto proto = Proto::tcp) noexcept;

// Parse a state name for a filter: case-insensitive, '-' or '_' ("time-wait", "TIME_WAIT"),
// plus "UNCONN". Returns the mask of kernel states it stands for (SYN_RECV covers
// NEW_SYN_RECV too), or nullopt if the name is unknown.
[[nodiscard]] std::optional<std::uint32_t> parse_state_mask(std::string_view name) noexcept;

}  // namespace socklab
