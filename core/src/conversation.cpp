// Conversation: the per-connection merge of segments, transitions and calls. Pure.
#include "socklab/conversation.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "socklab/state.hpp"

namespace socklab {

std::string_view side_name(Side s) noexcept {
    switch (s) {
        case Side::client: return "client";
        case Side::server: return "server";
        default: return "?";
    }
}

std::size_t Conversation::segment_count() const noexcept {
    return static_cast<std::size_t>(std::count_if(
        items.begin(), items.end(), [](const ConversationItem& i) { return i.segment(); }));
}

namespace conversation {
namespace {

// Sockets see a v4-mapped peer where the wire carries IPv4: compare in the wire's terms.
Endpoint wire(const IpAddr& a, std::uint16_t port) { return Endpoint{a.unmapped(), port}; }

std::uint8_t family_of(const Endpoint& x, std::uint8_t fallback) {
    return x.addr.family != 0 ? x.addr.family : fallback;
}

Endpoint local_of(const TransitionEvent& e) { return wire(e.local_addr, e.local_port); }
Endpoint local_of(const SyscallEvent& c) { return wire(c.key->local_addr, c.key->local_port); }
Endpoint remote_of(const SyscallEvent& c) { return wire(c.key->remote_addr, c.key->remote_port); }

Side side_of(const Conversation& c, const Endpoint& e) {
    if (e == c.client) return Side::client;
    if (e == c.server) return Side::server;
    return Side::unknown;
}

void set_roles(Conversation& c, const Endpoint& client, const Endpoint& server) {
    c.client = client;
    c.server = server;
    c.roles_known = true;
}

// Tentative roles (first sender = client) until a SYN, a SYN_SENT or a connect() says.
void first_guess(Conversation& c, const Endpoint& from) {
    if (c.roles_known || c.client.port != 0 || c.server.port != 0) return;
    c.client = from;
    c.server = (from == c.id.a) ? c.id.b : c.id.a;
}

void refresh(Conversation& c) {
    for (auto& item : c.items) {
        if (auto* s = std::get_if<Segment>(&item.what)) {
            *s = relativize(c, *s);
            item.side = side_of(c, wire(s->src_addr, s->src_port));
        } else if (const auto* t = item.transition()) {
            item.side = side_of(c, local_of(*t));
        } else if (const auto* k = item.syscall(); k && k->key) {
            item.side = side_of(c, local_of(*k));
        }
    }
}

const ConversationItem& insert(Conversation& c, ConversationItem item) {
    const auto at = std::upper_bound(
        c.items.begin(), c.items.end(), item.time_ns,
        [](std::uint64_t t, const ConversationItem& i) { return t < i.time_ns; });
    const auto it = c.items.insert(at, std::move(item));
    c.first_ns = c.items.front().time_ns;
    c.last_ns = c.items.back().time_ns;
    return *it;
}

}  // namespace

ConnectionId make_id(std::uint8_t family, const Endpoint& x, const Endpoint& y) noexcept {
    ConnectionId id;
    id.family = family;
    id.a = std::min(x, y);
    id.b = std::max(x, y);
    return id;
}

std::optional<ConnectionId> id_of(const Segment& s) noexcept {
    const auto src = wire(s.src_addr, s.src_port);
    return make_id(family_of(src, s.family), src, wire(s.dst_addr, s.dst_port));
}

std::optional<ConnectionId> id_of(const TransitionEvent& e) noexcept {
    if (e.local_port == 0 || e.remote_port == 0) return std::nullopt;
    const auto local = local_of(e);
    return make_id(family_of(local, e.family), local, wire(e.remote_addr, e.remote_port));
}

std::optional<ConnectionId> id_of(const SyscallEvent& c) noexcept {
    if (!c.key || c.key->local_port == 0 || c.key->remote_port == 0) return std::nullopt;
    const auto local = local_of(c);
    return make_id(family_of(local, c.key->family), local, remote_of(c));
}

Segment relativize(const Conversation& c, Segment s) noexcept {
    const auto from = side_of(c, wire(s.src_addr, s.src_port));
    const auto& own = from == Side::client ? c.client_isn : c.server_isn;
    const auto& peer = from == Side::client ? c.server_isn : c.client_isn;
    if (from == Side::unknown || !own) {
        s.rel_seq = s.seq;
        s.rel_ack = s.ack;
        s.relative = false;
        return s;
    }
    s.rel_seq = s.seq - *own;  // modulo 2^32, as sequence space is
    s.rel_ack = !s.has(tcp_flag::ACK) ? 0 : peer ? s.ack - *peer : s.ack;
    s.relative = true;
    return s;
}

const ConversationItem& append(Conversation& c, const Segment& s) {
    const auto from = wire(s.src_addr, s.src_port);
    const auto to = wire(s.dst_addr, s.dst_port);
    bool changed = false;
    if (s.has(tcp_flag::SYN) && !s.has(tcp_flag::ACK)) {
        if (!c.roles_known || !(c.client == from)) {
            set_roles(c, from, to);
            changed = true;
        }
        if (!c.client_isn || *c.client_isn != s.seq) {
            c.client_isn = s.seq;
            changed = true;
        }
    } else if (s.has(tcp_flag::SYN)) {
        if (!c.roles_known || !(c.server == from)) {
            set_roles(c, to, from);
            changed = true;
        }
        if (!c.server_isn || *c.server_isn != s.seq) {
            c.server_isn = s.seq;
            changed = true;
        }
    } else {
        if (!c.roles_known && c.client.port == 0 && c.server.port == 0) {
            first_guess(c, from);
            changed = true;
        }
        // Handshake not captured: the first sequence number seen from a side stands for its
        // ISN (what tshark does too), so numbers stay small and comparable.
        auto& own = side_of(c, from) == Side::client ? c.client_isn : c.server_isn;
        if (!own && side_of(c, from) != Side::unknown) {
            own = s.seq;
            changed = true;
        }
    }
    ConversationItem item{s.time_ns, side_of(c, from), relativize(c, s)};
    if (!changed) return insert(c, std::move(item));
    const auto time = s.time_ns;
    insert(c, std::move(item));
    refresh(c);
    // Find it again after refresh (positions do not change, content might).
    auto it = std::upper_bound(c.items.begin(), c.items.end(), time,
                               [](std::uint64_t t, const ConversationItem& i) {
                                   return t < i.time_ns;
                               });
    return *std::prev(it);
}

const ConversationItem& append(Conversation& c, const TransitionEvent& e) {
    const auto local = local_of(e);
    const auto remote = wire(e.remote_addr, e.remote_port);
    bool changed = false;
    // Into or out of SYN_SENT: the connecting end. Into or out of SYN_RECV: the listener's end
    // (an accepted socket goes LISTEN -> SYN_RECV -> ESTABLISHED; when the first of these was
    // not seen, the second still says which end it is).
    const auto syn_sent = static_cast<std::uint8_t>(TcpState::syn_sent);
    const auto syn_recv = static_cast<std::uint8_t>(TcpState::syn_recv);
    if (!c.roles_known && (e.new_state == syn_sent || e.old_state == syn_sent ||
                           e.new_state == syn_recv || e.old_state == syn_recv)) {
        if (e.new_state == syn_sent || e.old_state == syn_sent) set_roles(c, local, remote);
        else set_roles(c, remote, local);
        changed = true;
    } else if (!c.roles_known && c.client.port == 0) {
        first_guess(c, local);
        changed = true;
    }
    ConversationItem item{e.time_ns, side_of(c, local), e};
    if (!changed) return insert(c, std::move(item));
    insert(c, std::move(item));
    refresh(c);
    auto it = std::upper_bound(c.items.begin(), c.items.end(), e.time_ns,
                               [](std::uint64_t t, const ConversationItem& i) {
                                   return t < i.time_ns;
                               });
    return *std::prev(it);
}

const ConversationItem& append(Conversation& c, const SyscallEvent& k) {
    bool changed = false;
    Side side = Side::unknown;
    if (k.key) {
        const auto local = local_of(k);
        const auto remote = remote_of(k);
        if (!c.roles_known && k.call == SyscallKind::connect) {
            set_roles(c, local, remote);
            changed = true;
        } else if (!c.roles_known &&
                   (k.call == SyscallKind::accept || k.call == SyscallKind::accept4)) {
            set_roles(c, remote, local);
            changed = true;
        } else if (!c.roles_known && c.client.port == 0) {
            first_guess(c, local);
            changed = true;
        }
        side = side_of(c, local);
    }
    if (side == Side::client) {
        c.client_pid = k.pid;
        c.client_comm = std::string(k.comm_view());
    } else if (side == Side::server) {
        c.server_pid = k.pid;
        c.server_comm = std::string(k.comm_view());
    }
    ConversationItem item{k.time_ns, side, k};
    if (!changed) return insert(c, std::move(item));
    insert(c, std::move(item));
    refresh(c);
    auto it = std::upper_bound(c.items.begin(), c.items.end(), k.time_ns,
                               [](std::uint64_t t, const ConversationItem& i) {
                                   return t < i.time_ns;
                               });
    return *std::prev(it);
}

std::vector<Conversation> build(std::span<const Segment> segments,
                                std::span<const TransitionEvent> transitions,
                                std::span<const SyscallEvent> calls) {
    ConversationSet set(static_cast<std::size_t>(-1));
    // Merge the three sources by time so roles and ISNs are learned in the order they arose.
    std::vector<std::pair<std::uint64_t, std::size_t>> order;  // (time, source*2^32 + index)
    order.reserve(segments.size() + transitions.size() + calls.size());
    for (std::size_t i = 0; i < transitions.size(); ++i) order.emplace_back(transitions[i].time_ns, i);
    for (std::size_t i = 0; i < segments.size(); ++i)
        order.emplace_back(segments[i].time_ns, (std::size_t{1} << 40) + i);
    for (std::size_t i = 0; i < calls.size(); ++i)
        order.emplace_back(calls[i].time_ns, (std::size_t{2} << 40) + i);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    for (const auto& [t, tagged] : order) {
        const std::size_t src = tagged >> 40;
        const std::size_t i = tagged & ((std::size_t{1} << 40) - 1);
        if (src == 0) set.add(transitions[i]);
        else if (src == 1) set.add(segments[i]);
        else set.add(calls[i]);
    }
    std::vector<Conversation> out;
    for (const auto* c : set.all()) out.push_back(*c);
    return out;
}

// --- ConversationSet -----------------------------------------------------------------------

ConversationSet::ConversationSet(std::size_t max_conversations)
    : max_(std::max<std::size_t>(max_conversations, 1)) {}

Conversation& ConversationSet::get(const ConnectionId& id, std::uint64_t time_ns) {
    auto [it, inserted] = convs_.try_emplace(id);
    if (inserted) {
        it->second.id = id;
        it->second.first_ns = it->second.last_ns = time_ns;
        if (convs_.size() > max_) {
            evict();
            return convs_.at(id);
        }
    }
    return it->second;
}

void ConversationSet::evict() {
    // Drop the least recently active eighth (at least one), never the newest.
    std::vector<std::pair<std::uint64_t, ConnectionId>> by_age;
    by_age.reserve(convs_.size());
    for (const auto& [id, c] : convs_) by_age.emplace_back(c.last_ns, id);
    const std::size_t n = std::max<std::size_t>(1, convs_.size() / 8);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(n - 1),
                     by_age.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (std::size_t i = 0; i < n && convs_.size() > 1; ++i) {
        const auto it = convs_.find(by_age[i].second);
        if (it == convs_.end() || it->second.items.empty()) continue;  // the one being made
        convs_.erase(it);
        ++dropped_;
    }
}

Conversation* ConversationSet::add(const Segment& s, const ConversationItem** item) {
    auto& c = get(*id_of(s), s.time_ns);
    const auto& stored = append(c, s);
    if (item) *item = &stored;
    return &c;
}

Conversation* ConversationSet::add(const TransitionEvent& e, const ConversationItem** item) {
    if (item) *item = nullptr;
    const auto id = id_of(e);
    if (!id) {
        // SYN_SENT: the local port is not chosen yet. Hold it until the socket names it. A
        // transition out of CLOSE starts a socket's life: what an earlier socket at the same
        // address left here is not this one's.
        auto& held = held_[e.skaddr];
        if (e.old_state == static_cast<std::uint8_t>(TcpState::close)) held.clear();
        if (held.size() < 8) held.push_back(e);
        if (held_.size() > max_ * 2) held_.clear();  // sockets that never got a port
        return nullptr;
    }
    auto& c = get(*id, e.time_ns);
    if (const auto h = held_.find(e.skaddr); h != held_.end()) {
        // The kernel reuses a freed socket's address, and a socket's later events may never
        // reach the set: a held SYN_SENT joins only the socket it was sent towards, before.
        const auto remote = wire(e.remote_addr, e.remote_port);
        for (auto early : h->second) {
            if (early.family != e.family || early.time_ns > e.time_ns ||
                !(wire(early.remote_addr, early.remote_port) == remote))
                continue;
            early.local_addr = e.local_addr;
            early.local_port = e.local_port;
            append(c, early);
        }
        held_.erase(h);
    }
    const auto& stored = append(c, e);
    if (item) *item = &stored;
    return &c;
}

void ConversationSet::forget_held(std::uint64_t skaddr) { held_.erase(skaddr); }

Conversation* ConversationSet::add(const SyscallEvent& k, const ConversationItem** item) {
    if (item) *item = nullptr;
    const auto id = id_of(k);
    if (!id) return nullptr;
    auto& c = get(*id, k.time_ns);
    const auto& stored = append(c, k);
    if (item) *item = &stored;
    return &c;
}

const Conversation* ConversationSet::find(const ConnectionId& id) const {
    const auto it = convs_.find(id);
    return it == convs_.end() ? nullptr : &it->second;
}

std::vector<const Conversation*> ConversationSet::all() const {
    std::vector<const Conversation*> out;
    out.reserve(convs_.size());
    for (const auto& [id, c] : convs_) out.push_back(&c);
    std::stable_sort(out.begin(), out.end(), [](const Conversation* x, const Conversation* y) {
        return x->first_ns < y->first_ns;
    });
    return out;
}

}  // namespace conversation
}  // namespace socklab
