#pragma once
// TCP/UDP socket states: the kernel's numbers (include/net/tcp_states.h) and their names as
// `ss` prints them, without the dash. One table, every lookup bounds-checked.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

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
//
// BOUND_INACTIVE, as seen on Linux 6.18 (tests/core: BoundInactive*, fixture tcp4.bin):
// the kernel dumps TCP sockets that are bound but neither listening nor connected (walking
// its bhash2 table) only when bit 13 is set in idiag_states; without it — and so with
// kAllStates, like `ss -tan` — they are not dumped at all, and /proc/net/tcp never lists
// them. The kernel reports them with idiag_state = TCP_CLOSE (7), never 13; since no other
// TCP socket in CLOSE is in a dumped table, the netlink parser records a TCP CLOSE as
// BOUND_INACTIVE, so a Query with state_bit(TcpState::bound_inactive) gets exactly these.
// Kernels before 6.9 ignore the bit and never show them.
inline constexpr std::uint32_t kAllStates = ((1u << 13) - 1) & ~1u;

// Does a record in `kernel_state` pass a state mask? The kernel reports request sockets
// (NEW_SYN_RECV) as SYN_RECV, in sock_diag and in /proc alike, and answers a mask with
// either bit with both kinds; so either bit lets a SYN_RECV record through.
[[nodiscard]] constexpr bool state_in_mask(std::uint32_t mask, std::uint8_t kernel_state) noexcept {
    constexpr std::uint32_t syn_recv_bits =
        (1u << static_cast<unsigned>(TcpState::syn_recv)) |
        (1u << static_cast<unsigned>(TcpState::new_syn_recv));
    if (kernel_state == static_cast<std::uint8_t>(TcpState::syn_recv))
        return (mask & syn_recv_bits) != 0;
    return (mask & state_bit(kernel_state)) != 0;
}

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

// ---- the state diagram's arrows: one table, read by next_states()/previous_states() (predict
// mode's plausible answers) and by the viewer's diagram ----

// Where an arrow comes from.
enum class ArrowSource : std::uint8_t {
    // Drawn in RFC 9293 Figure 5 (§3.3.2), and a way Linux moves sockets: the viewer's diagram
    // draws exactly these.
    figure,
    // In Figure 5, but not on Linux: SYN_RECV -> LISTEN on a RST (the figure's note 1, for a
    // passive open). Linux keeps a passive open's half-open connection as a request socket
    // beside its listener, which never leaves LISTEN.
    figure_only,
    // RFC 9293's text, not its figure: FIN_WAIT1 -> TIME_WAIT when a FIN arrives and ours is
    // acknowledged (§3.10.7.4, FIN-WAIT-1).
    rfc_text,
    // Linux's own, around CLOSED: a bound-only socket (BOUND_INACTIVE) listens or connects
    // like a CLOSED one, and UDP's connect() gives an UNCONN socket a default peer.
    linux_only,
};

struct StateArrow {
    std::string_view from, to;  // ss names; CLOSE stands for CLOSED
    // "event / action" as on RFC 9293's figure (its OPEN events as the socket calls), an
    // English msgid (N_): translate it with _() to show it. nullptr for the arrows no front
    // end labels (every source but figure).
    const char* label;
    ArrowSource source;
};

// Every arrow, once each.
[[nodiscard]] std::span<const StateArrow> state_arrows() noexcept;

// The states one arrow of state_arrows() leads to from `name`, and the states it can be
// reached from, by their ss names, in the table's order. CLOSE stands for CLOSED;
// BOUND_INACTIVE (a bound socket, Linux) moves on like CLOSED does. UDP's UNCONN and
// ESTABLISHED are each other's neighbours (connect() / connect(AF_UNSPEC)). Unknown: empty.
[[nodiscard]] std::vector<std::string_view> next_states(std::string_view name);
[[nodiscard]] std::vector<std::string_view> previous_states(std::string_view name);

}  // namespace socklab
