#include "socklab/state.hpp"

#include <array>
#include <cctype>
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

struct StateInfo {
    std::string_view name;
    std::string_view explanation;
};

// Indexed by the kernel's state number; index 0 is not a state.
constexpr std::array<StateInfo, kMaxKernelState + 1> kStates{{
    {"UNKNOWN", N_("Not a TCP state the kernel uses.")},
    {"ESTABLISHED",
     N_("The handshake is complete: both ends can send and receive. This is a working connection.")},
    {"SYN_SENT",
     N_("connect() sent a SYN and is waiting for the peer's SYN+ACK. On loopback this lasts "
     "microseconds, unless the listener's accept queue is full.")},
    {"SYN_RECV",
     N_("A full socket in SYN-RECEIVED (RFC 9293 §3.3.2): rare on Linux, where a half-open "
     "request is NEW_SYN_RECV. Seen for a TCP Fast Open child (created at the SYN, before the "
     "final ACK), a simultaneous open (both ends sent SYN), and for an instant after the "
     "final ACK while the kernel turns the request into a connection.")},
    {"FIN_WAIT1",
     N_("This end sent FIN (close() or shutdown(SHUT_WR)) and waits for it to be acknowledged. "
     "It lasts while the FIN, or data queued before it, is unacknowledged: e.g. the peer "
     "stopped reading and its window is zero, so the FIN cannot even be sent.")},
    {"FIN_WAIT2",
     N_("Our FIN was acknowledged; now we wait for the peer to close its side. A socket still "
     "open after shutdown() waits without a time limit; an orphan (its program called "
     "close()) gives up after tcp_fin_timeout (60 s) or TCP_LINGER2.")},
    {"TIME_WAIT",
     N_("This end sent the first FIN, or both ends sent FIN at once. The kernel keeps the "
     "connection's 4-tuple for 60 s (RFC 9293 §3.3.2) so it can acknowledge the peer's FIN "
     "again if that FIN is retransmitted, and so late duplicate packets of the old "
     "connection are not taken for a new one. A kernel-only mini-socket: no process owns it.")},
    {"CLOSE",
     N_("Not connected: a socket that is created or bound but neither listening nor connected, "
     "or one that is finished.")},
    {"CLOSE_WAIT",
     N_("The peer closed its side (we received FIN); this end can still send, and the kernel "
     "waits for this program to call close(). Normal while the program still answers a "
     "half-closed peer; a CLOSE_WAIT that stays idle for long is a bug: the program ignored "
     "recv() == 0.")},
    {"LAST_ACK",
     N_("We closed after the peer did, sent our FIN and wait for its ACK. Gone in microseconds "
     "on loopback, unless the FIN cannot go out: the peer stopped reading and its receive "
     "buffer is full (zero window), so the FIN waits behind our data.")},
    {"LISTEN",
     N_("A server socket waiting for connections. Recv-Q is the number of connections waiting "
     "to be accept()ed, Send-Q the backlog.")},
    {"CLOSING",
     N_("Both ends sent FIN and each received the other's FIN before the ACK of its own. Brief "
     "after a simultaneous close; held while our FIN cannot be acknowledged because it waits "
     "behind data the peer does not read (zero window).")},
    {"SYN_RECV",
     N_("A half-open connection: the listener answered the SYN with SYN+ACK and waits for the "
     "final ACK. Linux keeps it as a small request socket (NEW_SYN_RECV), not yet in the "
     "accept queue.")},
    {"BOUND_INACTIVE",
     N_("Bound to an address and port with bind(), but not listening and not connected: nothing "
     "can connect to it yet.")},
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

// The arrows, in the order next_states() and previous_states() give them. The labels follow
// RFC 9293 Figure 5, with the socket calls for its OPEN events (listen(), connect()) and
// Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN, 60 s).
using A = ArrowSource;
constexpr std::array<StateArrow, 26> kArrows{{
    {"CLOSE", "LISTEN", N_("listen()"), A::figure},
    {"CLOSE", "SYN_SENT", N_("connect() / snd SYN"), A::figure},
    {"CLOSE", "BOUND_INACTIVE", nullptr, A::linux_only},
    {"BOUND_INACTIVE", "LISTEN", nullptr, A::linux_only},
    {"BOUND_INACTIVE", "SYN_SENT", nullptr, A::linux_only},
    {"LISTEN", "SYN_RECV", N_("rcv SYN / snd SYN,ACK"), A::figure},
    {"LISTEN", "SYN_SENT", N_("send / snd SYN"), A::figure},
    {"LISTEN", "CLOSE", N_("close"), A::figure},
    {"SYN_SENT", "SYN_RECV", N_("rcv SYN / snd ACK"), A::figure},
    {"SYN_SENT", "ESTABLISHED", N_("rcv SYN,ACK / snd ACK"), A::figure},
    {"SYN_SENT", "CLOSE", N_("close / timeout"), A::figure},
    {"SYN_RECV", "ESTABLISHED", N_("rcv ACK of SYN"), A::figure},
    {"SYN_RECV", "FIN_WAIT1", N_("close / snd FIN"), A::figure},
    {"SYN_RECV", "LISTEN", nullptr, A::figure_only},
    {"ESTABLISHED", "FIN_WAIT1", N_("close / snd FIN"), A::figure},
    {"ESTABLISHED", "CLOSE_WAIT", N_("rcv FIN / snd ACK"), A::figure},
    {"FIN_WAIT1", "FIN_WAIT2", N_("rcv ACK of FIN"), A::figure},
    {"FIN_WAIT1", "CLOSING", N_("rcv FIN / snd ACK"), A::figure},
    {"FIN_WAIT1", "TIME_WAIT", nullptr, A::rfc_text},
    {"FIN_WAIT2", "TIME_WAIT", N_("rcv FIN / snd ACK"), A::figure},
    {"CLOSING", "TIME_WAIT", N_("rcv ACK of FIN"), A::figure},
    {"CLOSE_WAIT", "LAST_ACK", N_("close / snd FIN"), A::figure},
    {"LAST_ACK", "CLOSE", N_("rcv ACK of FIN"), A::figure},
    {"TIME_WAIT", "CLOSE", N_("timeout = 2 MSL (60 s)"), A::figure},
    {"UNCONN", "ESTABLISHED", nullptr, A::linux_only},
    {"ESTABLISHED", "UNCONN", nullptr, A::linux_only},
}};

}  // namespace

std::span<const StateArrow> state_arrows() noexcept { return kArrows; }

std::vector<std::string_view> next_states(std::string_view name) {
    std::vector<std::string_view> out;
    for (const auto& a : kArrows)
        if (a.from == name) out.push_back(a.to);
    return out;
}

std::vector<std::string_view> previous_states(std::string_view name) {
    std::vector<std::string_view> out;
    for (const auto& a : kArrows)
        if (a.to == name) out.push_back(a.from);
    return out;
}

std::string_view proto_name(Proto p) noexcept { return p == Proto::udp ? "udp" : "tcp"; }

std::string_view state_name(std::uint8_t s, Proto proto) noexcept {
    if (s == 0 || s > kMaxKernelState) return kStates[0].name;
    if (proto == Proto::udp && s == static_cast<std::uint8_t>(TcpState::close)) return "UNCONN";
    return kStates[s].name;
}

std::string_view state_explanation(std::uint8_t s, Proto proto) noexcept {
    // The table holds English (N_); the text a person reads is its translation.
    if (s == 0 || s > kMaxKernelState) return _(kStates[0].explanation.data());
    if (proto == Proto::udp) {
        if (s == static_cast<std::uint8_t>(TcpState::close))
            return _("A UDP socket with no fixed peer: it receives datagrams from anyone and "
                   "names the destination on every sendto().");
        if (s == static_cast<std::uint8_t>(TcpState::established))
            return _("A UDP socket with a default peer set by connect(): no packet was sent, the "
                   "kernel only remembers the address and filters what it receives.");
    }
    return _(kStates[s].explanation.data());
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
