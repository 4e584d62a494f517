#include "socklab/state.hpp"

#include <array>
#include <cctype>

namespace socklab {
namespace {

struct StateInfo {
    std::string_view name;
    std::string_view explanation;
};

// Indexed by the kernel's state number; index 0 is not a state.
constexpr std::array<StateInfo, kMaxKernelState + 1> kStates{{
    {"UNKNOWN", "Not a TCP state the kernel uses."},
    {"ESTABLISHED",
     "The handshake is complete: both ends can send and receive. This is a working connection."},
    {"SYN_SENT",
     "connect() sent a SYN and is waiting for the peer's SYN+ACK. On loopback this lasts "
     "microseconds, unless the listener's accept queue is full."},
    {"SYN_RECV",
     "The listener got a SYN and answered SYN+ACK; it now waits for the final ACK of the "
     "handshake. The connection is not yet in the accept queue."},
    {"FIN_WAIT1",
     "This end closed (or shut down writing) and sent FIN; it waits for the peer to "
     "acknowledge it. Held only when the FIN cannot be sent, e.g. the peer's window is full."},
    {"FIN_WAIT2",
     "Our FIN was acknowledged; now we wait for the peer to close its side. If the peer never "
     "calls close(), an orphaned FIN_WAIT2 times out after tcp_fin_timeout (60 s)."},
    {"TIME_WAIT",
     "This end closed first. The kernel keeps the connection's 4-tuple for 60 s so late "
     "packets of the old connection cannot be mistaken for a new one. No process owns it."},
    {"CLOSE",
     "Not connected: a socket that is created or bound but neither listening nor connected, "
     "or one that is finished."},
    {"CLOSE_WAIT",
     "The peer closed its side (we received FIN) and the kernel is waiting for this program "
     "to call close(). A socket that stays here is a bug: the program ignored recv() == 0."},
    {"LAST_ACK",
     "We closed after the peer did, sent our FIN and wait for its ACK. Gone in microseconds "
     "on loopback."},
    {"LISTEN",
     "A server socket waiting for connections. Recv-Q is the number of connections waiting "
     "to be accept()ed, Send-Q the backlog."},
    {"CLOSING",
     "Both ends sent FIN at the same time and each waits for the other's ACK. Rare."},
    {"SYN_RECV",
     "A half-open connection (a request socket): the listener answered the SYN and waits for "
     "the final ACK of the handshake."},
    {"BOUND_INACTIVE",
     "Bound to an address and port with bind(), but not listening and not connected: nothing "
     "can connect to it yet."},
}};

char fold(char c) noexcept {
    if (c == '-') return '_';
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

bool equal_folded(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (fold(a[i]) != fold(b[i])) return false;
    return true;
}

}  // namespace

std::string_view proto_name(Proto p) noexcept { return p == Proto::udp ? "udp" : "tcp"; }

std::string_view state_name(std::uint8_t s, Proto proto) noexcept {
    if (s == 0 || s > kMaxKernelState) return kStates[0].name;
    if (proto == Proto::udp && s == static_cast<std::uint8_t>(TcpState::close)) return "UNCONN";
    return kStates[s].name;
}

std::string_view state_explanation(std::uint8_t s, Proto proto) noexcept {
    if (s == 0 || s > kMaxKernelState) return kStates[0].explanation;
    if (proto == Proto::udp) {
        if (s == static_cast<std::uint8_t>(TcpState::close))
            return "A UDP socket with no fixed peer: it receives datagrams from anyone and "
                   "names the destination on every sendto().";
        if (s == static_cast<std::uint8_t>(TcpState::established))
            return "A UDP socket with a default peer set by connect(): no packet was sent, the "
                   "kernel only remembers the address and filters what it receives.";
    }
    return kStates[s].explanation;
}

std::optional<std::uint32_t> parse_state_mask(std::string_view name) noexcept {
    if (equal_folded(name, "UNCONN")) return state_bit(TcpState::close);
    if (equal_folded(name, "SYN_RECV"))
        return state_bit(TcpState::syn_recv) | state_bit(TcpState::new_syn_recv);
    if (equal_folded(name, "NEW_SYN_RECV")) return state_bit(TcpState::new_syn_recv);
    for (std::uint8_t s = 1; s <= kMaxKernelState; ++s)
        if (equal_folded(name, kStates[s].name)) return state_bit(s);
    return std::nullopt;
}

}  // namespace socklab
