#pragma once
// Conversation: everything that happened on one TCP connection, in time order — the segments
// on the wire, both ends' state transitions and the system calls on either end's socket.
// It is what a ladder diagram draws: two lifelines (client, server), an arrow per segment,
// a state badge where a side's state changes, a call marker on the caller's side.
//
// Plain data plus pure functions: a viewer can draw from a Conversation alone, and the same
// functions serve live streams (append) and recorded fixtures (build). Sequence numbers are
// made relative to each side's ISN here (as tshark shows them: SYN seq 0, SYN-ACK ack 1).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/segment.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab {

struct Endpoint {
    IpAddr addr;
    std::uint16_t port = 0;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// A connection regardless of direction: the two endpoints in a fixed (sorted) order.
struct ConnectionId {
    std::uint8_t family = 0;
    Endpoint a, b;  // a <= b
    friend auto operator<=>(const ConnectionId&, const ConnectionId&) = default;
};

enum class Side : std::uint8_t { client, server, unknown };
[[nodiscard]] std::string_view side_name(Side s) noexcept;  // "client", "server", "?"

struct ConversationItem {
    std::uint64_t time_ns = 0;
    Side side = Side::unknown;  // segment: its sender; transition / call: whose socket
    std::variant<Segment, TransitionEvent, SyscallEvent> what;

    [[nodiscard]] const Segment* segment() const noexcept { return std::get_if<Segment>(&what); }
    [[nodiscard]] const TransitionEvent* transition() const noexcept {
        return std::get_if<TransitionEvent>(&what);
    }
    [[nodiscard]] const SyscallEvent* syscall() const noexcept {
        return std::get_if<SyscallEvent>(&what);
    }
};

struct Conversation {
    ConnectionId id;
    // The client sent the first SYN (or called connect(), or its socket went to SYN_SENT);
    // the server answered. Until one of those is seen, roles_known is false and `client` is
    // simply the first sender seen.
    Endpoint client, server;
    bool roles_known = false;
    // Initial sequence numbers: from the SYN and the SYN-ACK; when the handshake was not
    // captured, the first sequence number seen from that side (as tshark does).
    std::optional<std::uint32_t> client_isn, server_isn;
    // Who made each side's calls (last seen), for the lifelines' headings.
    std::int32_t client_pid = 0, server_pid = 0;
    std::string client_comm, server_comm;
    std::vector<ConversationItem> items;  // ascending time_ns; equal times keep arrival order
    std::uint64_t first_ns = 0, last_ns = 0;

    [[nodiscard]] std::size_t segment_count() const noexcept;
};

namespace conversation {

// The connection a record belongs to; nullopt when it names none (a transition with local
// port 0 — SYN_SENT — or a call whose socket is not resolved / not connected).
[[nodiscard]] std::optional<ConnectionId> id_of(const Segment& s) noexcept;
[[nodiscard]] std::optional<ConnectionId> id_of(const TransitionEvent& e) noexcept;
[[nodiscard]] std::optional<ConnectionId> id_of(const SyscallEvent& c) noexcept;
[[nodiscard]] ConnectionId make_id(std::uint8_t family, const Endpoint& x,
                                   const Endpoint& y) noexcept;

// Add one record to `c` (whose id it must belong to), in time order, updating roles, ISNs
// and, for a segment, its relative seq/ack (the stored copy; the input is not changed).
// Returns the stored item. Pure: no clock, no kernel.
const ConversationItem& append(Conversation& c, const Segment& s);
const ConversationItem& append(Conversation& c, const TransitionEvent& e);
const ConversationItem& append(Conversation& c, const SyscallEvent& e);

// Relative seq/ack of a segment given a conversation's ISNs (raw when unknown).
[[nodiscard]] Segment relativize(const Conversation& c, Segment s) noexcept;

// All conversations in a set of records, each time-ordered. Transitions with local port 0
// (SYN_SENT) join the conversation their socket (skaddr) names in a later event.
[[nodiscard]] std::vector<Conversation> build(std::span<const Segment> segments,
                                              std::span<const TransitionEvent> transitions,
                                              std::span<const SyscallEvent> calls);

// Live form of build(): feed records as they come (each source in time order); the set keeps
// one Conversation per connection. A SYN_SENT transition waits (by skaddr) until the
// socket's ports are known, then joins with its original time (only a later event of the same
// socket towards the same peer places it: socket addresses are reused). Bounded: at most
// `max_conversations` are kept, the least recently active are dropped first.
class ConversationSet {
public:
    explicit ConversationSet(std::size_t max_conversations = 4096);

    // Each returns the conversation the record joined (nullptr when it is held back or
    // belongs to none) and the stored item through `item`.
    Conversation* add(const Segment& s, const ConversationItem** item = nullptr);
    Conversation* add(const TransitionEvent& e, const ConversationItem** item = nullptr);
    Conversation* add(const SyscallEvent& c, const ConversationItem** item = nullptr);

    // A placed event of socket `skaddr` that the caller keeps out of the set: the SYN_SENT held
    // for that socket belongs to no conversation the set will hold, and is let go.
    void forget_held(std::uint64_t skaddr);

    [[nodiscard]] const Conversation* find(const ConnectionId& id) const;
    [[nodiscard]] std::vector<const Conversation*> all() const;  // by first_ns
    [[nodiscard]] std::size_t size() const noexcept { return convs_.size(); }
    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }

private:
    Conversation& get(const ConnectionId& id, std::uint64_t time_ns);
    void evict();
    std::size_t max_;
    std::map<ConnectionId, Conversation> convs_;
    std::unordered_map<std::uint64_t, std::vector<TransitionEvent>> held_;  // by skaddr
    std::uint64_t dropped_ = 0;
};

}  // namespace conversation

}  // namespace socklab
