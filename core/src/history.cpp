#include "socklab/history.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace socklab {
namespace {

constexpr auto kClose = static_cast<std::uint8_t>(TcpState::close);

bool becomes_timewait(std::uint8_t old_state) noexcept {
    // An active closer's full socket is reported going to CLOSE from these states, when the
    // kernel swaps it for a timewait mini-socket the tracepoint never reports on.
    return old_state == static_cast<std::uint8_t>(TcpState::fin_wait1) ||
           old_state == static_cast<std::uint8_t>(TcpState::fin_wait2) ||
           old_state == static_cast<std::uint8_t>(TcpState::closing);
}

bool is_timewait_state(std::uint8_t s) noexcept {
    return s == static_cast<std::uint8_t>(TcpState::time_wait) ||
           s == static_cast<std::uint8_t>(TcpState::fin_wait2);
}

void end_open_interval(std::vector<StateInterval>& line, std::uint64_t t) {
    if (line.empty() || line.back().end_ns != 0) return;
    line.back().end_ns = std::max(t, line.back().start_ns);
}

}  // namespace

History::History(HistoryOptions opts) : opts_(opts) {}

History::Slot& History::create(const EntryKey& k, const SocketRecord& rec) {
    auto [it, inserted] = entries_.try_emplace(k);
    Slot& s = it->second;
    if (!inserted) {
        // A new socket on a closed one's 4-tuple: the same node, so where the last snapshot
        // listed it (last_order_ may point here) stays known.
        const std::uint32_t at = s.listed_at;
        s = Slot{};
        s.listed_at = at;
    }
    s.entry.id = next_id_++;
    s.entry.key = k.key;
    s.entry.ordinal = k.ordinal;
    s.entry.record = rec;
    if (k.ordinal == 0) {
        s.entry.peer_ = look_up_peer(k.key);
        // A new node: entries that looked for this 4-tuple find it now. (Assigned over a
        // closed entry, the node stays where it was and every pointer to it stays right.)
        if (inserted) relink_around(k.key);
    }
    return s;
}

void History::enter_state(Slot& s, std::uint8_t state, std::uint64_t t, bool traced,
                          bool polled) {
    auto& line = s.entry.lifeline;
    end_open_interval(line, t);
    line.push_back(StateInterval{state, t, 0, traced, polled});
    if (line.size() > opts_.max_intervals && opts_.max_intervals > 0)
        line.erase(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(line.size() - opts_.max_intervals));
    s.entry.record.state = state;
    s.entry.state_since_ns = t;
}

void History::close_entry(Slot& s, std::uint64_t t) {
    end_open_interval(s.entry.lifeline, t);
    s.entry.closed_ns = std::max<std::uint64_t>(t, 1);
    closed_order_.emplace_back(s.entry.id, EntryKey{s.entry.key, s.entry.ordinal});
}

void History::record_transition(std::uint64_t entry_id, const SocketKey& key, std::uint8_t from,
                                std::uint8_t to, std::uint64_t t, bool traced, std::int32_t pid,
                                const std::array<char, 16>& comm, std::uint64_t skaddr) {
    transitions_.push_back(
        ObservedTransition{next_seq_++, t, entry_id, key, from, to, traced, pid, comm, skaddr});
    while (transitions_.size() > opts_.max_transitions) transitions_.pop_front();
}

void History::apply_events(std::span<const TransitionEvent> events) {
    for (const auto& ev : events) apply_event(ev);
}

void History::apply_event(const TransitionEvent& ev) {
    ++events_applied_;
    if (ev.protocol != 0 && ev.protocol != IPPROTO_TCP) return;
    const std::uint64_t t = ev.time_ns;

    // CLOSE -> anything starts a new life for this kernel socket (and its address may be a
    // recycled one): forget what the address meant before.
    if (ev.old_state == kClose && ev.new_state != kClose) {
        by_skaddr_.erase(ev.skaddr);
        pending_.erase(ev.skaddr);
    }

    const SocketKey key{Proto::tcp, ev.family, ev.local_addr, ev.local_port, ev.remote_addr,
                        ev.remote_port};
    if (ev.local_port == 0 && !by_skaddr_.contains(ev.skaddr)) {
        // connect() reports SYN_SENT before it picks the source port: keep the events under
        // the socket's kernel address until one with ports arrives.
        auto& p = pending_[ev.skaddr];
        end_open_interval(p.lifeline, t);
        if (ev.new_state != kClose) p.lifeline.push_back(StateInterval{ev.new_state, t, 0, true, false});
        p.last_event_ns = t;
        record_transition(0, key, ev.old_state, ev.new_state, t, true, ev.pid, ev.comm, ev.skaddr);
        if (ev.new_state == kClose) pending_.erase(ev.skaddr);
        return;
    }

    Slot* slot = nullptr;
    if (auto m = by_skaddr_.find(ev.skaddr); m != by_skaddr_.end()) {
        if (auto e = entries_.find(m->second); e != entries_.end()) slot = &e->second;
    }
    if (slot == nullptr) {
        const EntryKey ek{key, 0};
        auto e = entries_.find(ek);
        if (e != entries_.end() && e->second.entry.open()) {
            slot = &e->second;
        } else {
            // Unknown, or a closed socket whose 4-tuple is being reused: a new entry.
            SocketRecord rec;
            rec.proto = Proto::tcp;
            rec.family = ev.family;
            rec.local_addr = ev.local_addr;
            rec.local_port = ev.local_port;
            rec.remote_addr = ev.remote_addr;
            rec.remote_port = ev.remote_port;
            rec.state = ev.old_state;
            slot = &create(ek, rec);
            slot->entry.added_ns = t;
            if (auto p = pending_.find(ev.skaddr); p != pending_.end()) {
                slot->entry.lifeline = std::move(p->second.lifeline);
                pending_.erase(p);
            } else if (ev.old_state != kClose && ev.old_state != 0 && ev.old_state_ns != 0 &&
                       ev.old_state_ns < t) {
                // The kernel says how long the old state lasted: draw it from its real start.
                slot->entry.lifeline.push_back(
                    StateInterval{ev.old_state, t - ev.old_state_ns, 0, true, false});
            }
        }
        by_skaddr_[ev.skaddr] = EntryKey{slot->entry.key, slot->entry.ordinal};
    }
    Slot& s = *slot;
    s.entry.skaddr = ev.skaddr;
    s.last_event_ns = std::max(s.last_event_ns, t);
    s.entry.changed_ns = t;
    if (ev.new_state == kClose) {
        end_open_interval(s.entry.lifeline, t);
        s.entry.record.state = kClose;
        s.awaiting_timewait = becomes_timewait(ev.old_state);
        if (s.entry.open()) close_entry(s, t);
        by_skaddr_.erase(ev.skaddr);
    } else {
        enter_state(s, ev.new_state, t, true, false);
    }
    record_transition(s.entry.id, s.entry.key, ev.old_state, ev.new_state, t, true, ev.pid, ev.comm,
                      ev.skaddr);
}

void History::apply_snapshot(const Snapshot& snap) {
    ++generation_;
    diff_.added.clear();
    diff_.changed.clear();
    diff_.closed.clear();
    const std::uint64_t t = snap.taken_ns;
    const bool first = generation_ == 1;

    next_order_.clear();
    next_order_.reserve(snap.sockets.size());
    std::size_t cursor = 0;  // in last_order_: where the next record is most likely listed
    for (const auto& rec : snap.sockets) {
        EntryKey ek{key_of(rec), 0};
        Slot* found = nullptr;
        if (cursor < last_order_.size()) {
            // The same place in the kernel's order as last time: no lookup. What a lookup
            // would find first: the slot of ordinal 0, not yet claimed by this snapshot.
            Slot* c = last_order_[cursor];
            if (c != nullptr && c->entry.ordinal == 0 && c->seen_generation != generation_ &&
                c->entry.key == ek.key)
                found = c;
        }
        if (found == nullptr) {
            auto it = entries_.find(ek);
            // Several sockets may share a 4-tuple (SO_REUSEPORT listeners): number them in
            // the order the table lists them.
            while (it != entries_.end() && it->second.seen_generation == generation_) {
                ++ek.ordinal;
                it = entries_.find(ek);
            }
            if (it != entries_.end()) found = &it->second;
        }
        if (found != nullptr) {
            ek.ordinal = found->entry.ordinal;
            const std::uint32_t at = found->listed_at;
            if (at < last_order_.size() && last_order_[at] == found) cursor = at + 1;
        }
        if (found != nullptr && !found->entry.open()) {
            Slot& s = *found;
            if (s.awaiting_timewait && is_timewait_state(rec.state)) {
                // The traced close handed the connection to a timewait mini-socket: its
                // life continues from the close, as polling now shows.
                const std::uint64_t tc = s.entry.closed_ns;
                const std::uint8_t before =
                    s.entry.lifeline.empty() ? kClose : s.entry.lifeline.back().state;
                s.entry.closed_ns = 0;
                s.awaiting_timewait = false;
                s.entry.lifeline.push_back(StateInterval{rec.state, tc, 0, false, true});
                s.entry.state_since_ns = tc;
                s.entry.changed_ns = t;
                s.entry.record = rec;
                s.entry.polled = true;
                s.seen_generation = generation_;
                record_transition(s.entry.id, s.entry.key, before, rec.state, tc, false);
                diff_.changed.push_back(s.entry.id);
                next_order_.push_back(&s);
                continue;
            }
            found = nullptr;  // a new socket on a closed one's 4-tuple
        }
        if (found == nullptr) {
            Slot& s = create(ek, rec);
            s.entry.added_ns = first ? 0 : t;
            s.entry.polled = true;
            s.seen_generation = generation_;
            enter_state(s, rec.state, t, false, true);
            if (!first) diff_.added.push_back(s.entry.id);
            next_order_.push_back(&s);
            continue;
        }

        Slot& s = *found;
        next_order_.push_back(&s);
        s.seen_generation = generation_;
        s.entry.polled = true;
        const std::uint8_t current = s.entry.record.state;
        if (s.last_event_ns > t) {
            // The tracer already told us about something newer than this snapshot.
            if (!s.entry.lifeline.empty() && s.entry.lifeline.back().state == rec.state)
                s.entry.lifeline.back().polled = true;
            continue;
        }
        if (rec.state == current && !s.entry.lifeline.empty()) {
            s.entry.lifeline.back().polled = true;
            if (rec.recv_q != s.entry.record.recv_q || rec.send_q != s.entry.record.send_q) {
                s.entry.changed_ns = t;
                diff_.changed.push_back(s.entry.id);
            }
        } else {
            enter_state(s, rec.state, t, false, true);
            s.entry.changed_ns = t;
            record_transition(s.entry.id, s.entry.key, current, rec.state, t, false);
            diff_.changed.push_back(s.entry.id);
        }
        s.entry.record = rec;
    }
    // This snapshot's order is the next one's guess. A slot listed last time but not now
    // keeps a stale listed_at: it is only ever used after checking last_order_ at it.
    last_order_.swap(next_order_);
    for (std::size_t i = 0; i < last_order_.size(); ++i)
        last_order_[i]->listed_at = static_cast<std::uint32_t>(i);

    for (auto& [ek, s] : entries_) {
        if (!s.entry.open() || s.seen_generation == generation_) continue;
        if (s.last_event_ns > t) continue;  // traced after this snapshot was taken
        const std::uint8_t before = s.entry.record.state;
        close_entry(s, t);
        record_transition(s.entry.id, s.entry.key, before, kClose, t, false);
        diff_.closed.push_back(s.entry.id);
    }
    expire(t);
}

void History::expire(std::uint64_t now_ns) {
    const auto retain = static_cast<std::uint64_t>(opts_.retain.count());
    while (!closed_order_.empty()) {
        const auto& [id, ek] = closed_order_.front();
        auto it = entries_.find(ek);
        if (it == entries_.end() || it->second.entry.id != id || it->second.entry.open()) {
            closed_order_.pop_front();  // reopened or replaced since it closed
            continue;
        }
        const bool too_old = it->second.entry.closed_ns + retain < now_ns;
        if (!too_old && closed_order_.size() <= opts_.max_closed) break;
        const EntryKey gone = it->first;
        if (const std::uint32_t at = it->second.listed_at; at < last_order_.size() && last_order_[at] == &it->second)
            last_order_[at] = nullptr;  // no guess may point at a forgotten slot
        entries_.erase(it);
        closed_order_.pop_front();
        if (gone.ordinal == 0) relink_around(gone.key);
    }
    std::erase_if(pending_, [&](const auto& kv) { return kv.second.last_event_ns + retain < now_ns; });
}

const HistoryEntry* History::find(const SocketKey& key, std::uint32_t ordinal) const {
    auto it = entries_.find(EntryKey{key, ordinal});
    return it == entries_.end() ? nullptr : &it->second.entry;
}

const HistoryEntry* History::peer_of(const HistoryEntry& e) const {
    return e.ordinal == 0 ? e.peer_ : look_up_peer(e.key);
}

const HistoryEntry* History::look_up_peer(const SocketKey& k) const {
    if (k.remote_port == 0 || !k.local_addr.is_loopback() || !k.remote_addr.is_loopback())
        return nullptr;
    const HistoryEntry* p = find(peer_key(k));
    if (p == nullptr && k.family == AF_INET6 && k.local_addr.is_v4_mapped()) {
        // A dual-stack socket talking to an IPv4 one: the peer lists plain IPv4 addresses.
        SocketKey v4 = peer_key(k);
        v4.family = AF_INET;
        v4.local_addr = v4.local_addr.unmapped();
        v4.remote_addr = v4.remote_addr.unmapped();
        p = find(v4);
    }
    return p;
}

void History::relink_around(const SocketKey& k) {
    // Whose look_up_peer() reads key `k`: the swapped 4-tuple's entry, and for an IPv4 `k`
    // the dual-stack entry whose fallback it is (both its addresses v4-mapped).
    const auto relink = [&](const SocketKey& other) {
        auto it = entries_.find(EntryKey{other, 0});
        if (it != entries_.end()) it->second.entry.peer_ = look_up_peer(other);
    };
    const SocketKey swapped = peer_key(k);
    relink(swapped);
    if (k.family == AF_INET) {
        const auto mapped = [](const IpAddr& a) {
            IpAddr m;
            m.family = AF_INET6;
            m.bytes[10] = m.bytes[11] = 0xff;
            std::copy_n(a.bytes.begin(), 4, m.bytes.begin() + 12);
            return m;
        };
        SocketKey dual = swapped;
        dual.family = AF_INET6;
        dual.local_addr = mapped(swapped.local_addr);
        dual.remote_addr = mapped(swapped.remote_addr);
        relink(dual);
    }
}

void History::for_each(const std::function<void(const HistoryEntry&)>& fn) const {
    for (const auto& [ek, s] : entries_) fn(s.entry);
}

}  // namespace socklab
