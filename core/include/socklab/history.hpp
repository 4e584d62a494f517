#pragma once
// History: polled snapshots and traced transitions merged into one story per socket.
//
// Every socket the table or the tracer has shown gets an entry, identified by its 4-tuple
// (plus an ordinal when several sockets share one, e.g. SO_REUSEPORT listeners). An entry
// carries its lifeline (the states it went through, with start and end times), and the times
// it appeared, last changed and went away, so front ends can highlight a diff. Traced events
// are keyed by the kernel's socket address until their ports are known (the SYN_SENT event
// has sport 0); the timewait mini-socket that follows a traced close, which the tracepoint
// never reports, is filled in from polling.
//
// Not thread-safe: one owner (the viewer's poller thread, a CLI loop) feeds and reads it.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/record.hpp"
#include "socklab/source.hpp"

namespace socklab {

// One stretch of time a socket spent in one state. Times are CLOCK_MONOTONIC nanoseconds.
struct StateInterval {
    std::uint8_t state = 0;
    std::uint64_t start_ns = 0;
    std::uint64_t end_ns = 0;  // 0: the socket is still in this state
    bool traced = false;       // the start is a tracepoint timestamp (exact)
    bool polled = false;       // at least one snapshot showed the socket in this state

    // A state only the tracer saw: it began and ended between two snapshots.
    [[nodiscard]] bool unseen_by_polling() const noexcept { return traced && !polled; }
};

struct HistoryEntry {
    std::uint64_t id = 0;      // unique for the life of the History, never reused
    SocketKey key;
    std::uint32_t ordinal = 0; // 0, or n for the n-th other socket sharing this 4-tuple
    SocketRecord record;       // the last polled record (or one made from the last event)
    bool polled = false;       // some snapshot has shown it
    std::uint64_t added_ns = 0;    // when it appeared; 0 when it was there at the first snapshot
    std::uint64_t changed_ns = 0;  // last change of state or queues; 0 = never changed
    std::uint64_t closed_ns = 0;   // when it went away; 0 while open
    std::uint64_t state_since_ns = 0;  // start of the current state (best known)
    std::uint64_t skaddr = 0;          // kernel address from the tracer, 0 if never traced
    std::vector<StateInterval> lifeline;

    [[nodiscard]] bool open() const noexcept { return closed_ns == 0; }

private:
    friend class History;
    // What History::peer_of() answers for an entry of ordinal 0, kept up to date by History
    // as entries come and go, so the viewer's 100k rows a poll look no peer up.
    const HistoryEntry* peer_ = nullptr;
};

// A state change as history recorded it: from the tracer (exact) or inferred by comparing
// two snapshots (traced == false; its time is the later snapshot's).
struct ObservedTransition {
    std::uint64_t seq = 0;  // increases by one per transition recorded
    std::uint64_t time_ns = 0;
    std::uint64_t entry_id = 0;
    SocketKey key;
    std::uint8_t old_state = 0;
    std::uint8_t new_state = 0;
    bool traced = false;
    std::int32_t pid = 0;
    std::array<char, 16> comm{};
    // Traced only: the kernel's socket address. connect() reports SYN_SENT before it picks
    // the source port (key.local_port 0); this is what ties that event to the socket's
    // later ones.
    std::uint64_t skaddr = 0;
};

struct HistoryDiff {
    std::vector<std::uint64_t> added;    // entry ids
    std::vector<std::uint64_t> changed;
    std::vector<std::uint64_t> closed;
};

struct HistoryOptions {
    // Closed sockets and their lifelines are forgotten after this long ...
    std::chrono::nanoseconds retain = std::chrono::seconds(120);
    // ... or sooner, oldest first, when more than this many closed ones are kept.
    std::size_t max_closed = 20'000;
    std::size_t max_intervals = 64;         // per socket; the oldest are dropped
    std::size_t max_transitions = 4'096;    // recent transitions kept
};

class History {
public:
    explicit History(HistoryOptions opts = {});
    // Entries point at their peers (peer_of()): a copy would point into the original.
    History(const History&) = delete;
    History& operator=(const History&) = delete;
    History(History&&) noexcept = default;
    History& operator=(History&&) noexcept = default;

    // Tracer output, in time order. Apply events before the snapshot taken just before they
    // were read: a snapshot older than an entry's last event does not override it.
    void apply_events(std::span<const TransitionEvent> events);
    // One polled snapshot: new, changed and vanished sockets; expires old closed ones.
    void apply_snapshot(const Snapshot& snap);
    // Forget closed entries older than `retain` (apply_snapshot calls it).
    void expire(std::uint64_t now_ns);

    [[nodiscard]] const HistoryEntry* find(const SocketKey& key, std::uint32_t ordinal = 0) const;
    // The other end of a loopback connection, when the table holds both ends: the entry of
    // ordinal 0 under the swapped 4-tuple (for a dual-stack socket talking to an IPv4 one, the
    // plain IPv4 4-tuple when there is no such IPv6 entry). `e` must be one of this history's
    // entries (from find() or for_each()); O(1), without a lookup, for ordinal 0.
    [[nodiscard]] const HistoryEntry* peer_of(const HistoryEntry& e) const;
    void for_each(const std::function<void(const HistoryEntry&)>& fn) const;
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    // What the last apply_snapshot() changed.
    [[nodiscard]] const HistoryDiff& last_diff() const noexcept { return diff_; }
    // The most recent transitions, oldest first (at most max_transitions).
    [[nodiscard]] const std::deque<ObservedTransition>& transitions() const noexcept {
        return transitions_;
    }
    [[nodiscard]] std::uint64_t snapshots_applied() const noexcept { return generation_; }
    [[nodiscard]] std::uint64_t events_applied() const noexcept { return events_applied_; }

private:
    struct EntryKey {
        SocketKey key;
        std::uint32_t ordinal = 0;
        friend bool operator==(const EntryKey&, const EntryKey&) = default;
    };
    struct EntryKeyHash {
        std::size_t operator()(const EntryKey& k) const noexcept {
            return SocketKeyHash{}(k.key) ^ (static_cast<std::size_t>(k.ordinal) * 0x9e3779b97f4a7c15ull);
        }
    };
    struct Slot {
        HistoryEntry entry;
        std::uint64_t seen_generation = 0;
        std::uint64_t last_event_ns = 0;  // newest traced event applied
        bool awaiting_timewait = false;   // traced close of an active closer
        std::uint32_t listed_at = UINT32_MAX;  // its index in last_order_, if still there
    };
    // Events of a socket whose ports are not known yet (connect()'s SYN_SENT).
    struct Pending {
        std::vector<StateInterval> lifeline;
        std::uint64_t last_event_ns = 0;
    };

    Slot& create(const EntryKey& k, const SocketRecord& rec);
    // peer_of() by lookups: what HistoryEntry::peer_ holds for an entry of ordinal 0.
    [[nodiscard]] const HistoryEntry* look_up_peer(const SocketKey& k) const;
    // The entry of ordinal 0 with key `k` came or went: set again the peer of every entry
    // whose peer_of() may have changed with it.
    void relink_around(const SocketKey& k);
    void enter_state(Slot& s, std::uint8_t state, std::uint64_t t, bool traced, bool polled);
    void close_entry(Slot& s, std::uint64_t t);
    void record_transition(std::uint64_t entry_id, const SocketKey& key, std::uint8_t from,
                           std::uint8_t to, std::uint64_t t, bool traced, std::int32_t pid = 0,
                           const std::array<char, 16>& comm = {}, std::uint64_t skaddr = 0);
    void apply_event(const TransitionEvent& ev);

    HistoryOptions opts_;
    std::unordered_map<EntryKey, Slot, EntryKeyHash> entries_;
    std::unordered_map<std::uint64_t, EntryKey> by_skaddr_;
    std::unordered_map<std::uint64_t, Pending> pending_;
    std::deque<std::pair<std::uint64_t, EntryKey>> closed_order_;  // (entry id, key), closing order
    // The slots the last snapshot listed, in its order (null: forgotten since). The kernel
    // lists its table in much the same order every time, so record i of the next snapshot
    // is most often the slot after the one record i-1 matched: found without a lookup.
    std::vector<Slot*> last_order_;
    std::vector<Slot*> next_order_;  // being filled; swapped in at the snapshot's end
    std::deque<ObservedTransition> transitions_;
    HistoryDiff diff_;
    std::uint64_t next_id_ = 1;
    std::uint64_t next_seq_ = 1;
    std::uint64_t generation_ = 0;
    std::uint64_t events_applied_ = 0;
};

}  // namespace socklab
