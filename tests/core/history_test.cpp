// History: snapshots and traced events into lifelines, diffs and peer pairs — on hand-made
// inputs, so every rule is checked exactly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "sample_records.hpp"
#include "socklab/history.hpp"

namespace socklab {
namespace {

using namespace test::samples;

SocketKey key(std::uint16_t lport, std::uint16_t rport) { return key_of(rec(lport, rport, kEst)); }

TEST(History, FirstSnapshotIsTheBaselineNotAListOfNewSockets) {
    History h;
    h.apply_snapshot(snap(1000, {rec(8080, 0, kListen), rec(8080, 40000, kEst)}));
    EXPECT_TRUE(h.last_diff().added.empty());
    ASSERT_EQ(h.size(), 2u);
    const auto* e = h.find(key_of(rec(8080, 0, kListen)));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->added_ns, 0u);
    EXPECT_TRUE(e->open());
    ASSERT_EQ(e->lifeline.size(), 1u);
    EXPECT_EQ(e->lifeline[0].state, kListen);
    EXPECT_TRUE(e->lifeline[0].polled);
    EXPECT_FALSE(e->lifeline[0].traced);
}

TEST(History, DiffNamesNewChangedAndClosedSockets) {
    History h;
    h.apply_snapshot(snap(1000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(9000, 0, kListen)}));
    auto listener = rec(8080, 0, kListen);
    listener.recv_q = 3;  // the accept queue grew: a change without a state change
    h.apply_snapshot(snap(2000, {listener, rec(8080, 40000, kCloseWait), rec(7000, 0, kListen)}));
    const auto& d = h.last_diff();
    const auto id = [&](SocketKey k) { return h.find(k)->id; };
    ASSERT_EQ(d.added.size(), 1u);
    EXPECT_EQ(d.added[0], id(key_of(rec(7000, 0, kListen))));
    ASSERT_EQ(d.changed.size(), 2u);
    ASSERT_EQ(d.closed.size(), 1u);
    EXPECT_EQ(d.closed[0], id(key_of(rec(9000, 0, kListen))));

    const auto* est = h.find(key(8080, 40000));
    EXPECT_EQ(est->record.state, kCloseWait);
    EXPECT_EQ(est->changed_ns, 2000u);
    EXPECT_EQ(est->state_since_ns, 2000u);
    ASSERT_EQ(est->lifeline.size(), 2u);
    EXPECT_EQ(est->lifeline[0].end_ns, 2000u);
    EXPECT_EQ(est->lifeline[1].state, kCloseWait);
    EXPECT_EQ(h.find(key_of(rec(7000, 0, kListen)))->added_ns, 2000u);
    const auto* gone = h.find(key_of(rec(9000, 0, kListen)));
    EXPECT_EQ(gone->closed_ns, 2000u);
    EXPECT_EQ(gone->lifeline.back().end_ns, 2000u);

    // The inferred transition is recorded as not traced, at the snapshot's time.
    bool saw = false;
    for (const auto& t : h.transitions())
        if (t.old_state == kEst && t.new_state == kCloseWait) {
            saw = true;
            EXPECT_FALSE(t.traced);
            EXPECT_EQ(t.time_ns, 2000u);
        }
    EXPECT_TRUE(saw);
}

TEST(History, PairsBothEndsOfALoopbackConnection) {
    History h;
    h.apply_snapshot(snap(1000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(40000, 8080, kEst),
                                 rec(5555, 443, kEst, "10.0.0.2", "10.0.0.9")}));
    const auto* server = h.find(key(8080, 40000));
    const auto* client = h.find(key(40000, 8080));
    ASSERT_NE(server, nullptr);
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(h.peer_of(*server), client);
    EXPECT_EQ(h.peer_of(*client), server);
    EXPECT_EQ(h.peer_of(*h.find(key_of(rec(8080, 0, kListen)))), nullptr);
    // Not loopback: the other end is on another machine, never paired.
    EXPECT_EQ(h.peer_of(*h.find(key_of(rec(5555, 443, kEst, "10.0.0.2", "10.0.0.9")))), nullptr);
}

// peer_of() is kept, not looked up: after every snapshot (entries made, closed, made again on
// a closed 4-tuple, forgotten) and every traced event, it must name exactly what a lookup
// of the swapped 4-tuple finds — over IPv4, IPv6, dual-stack ends whose peer is plain IPv4,
// and 4-tuples held twice (ordinal 1).
TEST(History, PeerOfIsWhatALookupFindsAsEntriesComeAndGo) {
    HistoryOptions opts;
    opts.retain = std::chrono::nanoseconds(300);  // forgotten 30 snapshots after closing ...
    opts.max_closed = 12;                          // ... or sooner
    History h(opts);
    const auto v6 = [](const char* text) {
        in6_addr a{};
        ::inet_pton(AF_INET6, text, &a);
        return IpAddr::v6(&a);
    };
    const IpAddr v4_lo = v4("127.0.0.1"), v6_lo = v6("::1"), mapped_lo = v6("::ffff:127.0.0.1");
    const auto record = [&](int family, std::uint16_t lport, std::uint16_t rport, IpAddr a) {
        SocketRecord r = rec(lport, rport, kEst);
        r.family = static_cast<std::uint8_t>(family);
        r.local_addr = a;
        r.remote_addr = a;
        return r;
    };
    // Few ports, so the same 4-tuples come back after their entries closed or were forgotten.
    std::vector<SocketRecord> universe;
    const std::uint16_t ports[] = {5000, 5001, 5002};
    for (const auto lp : ports)
        for (const auto rp : ports) {
            if (lp == rp) continue;
            universe.push_back(record(AF_INET, lp, rp, v4_lo));
            universe.push_back(record(AF_INET6, lp, rp, v6_lo));
            universe.push_back(record(AF_INET6, lp, rp, mapped_lo));  // its peer: IPv4 or itself
        }
    universe.push_back(rec(5000, 0, kListen));
    universe.push_back(rec(6000, 443, kEst, "10.0.0.2", "10.0.0.9"));  // not loopback

    // The lookup peer_of() stands for, spelled out with find().
    const auto expected = [&](const HistoryEntry& e) -> const HistoryEntry* {
        const SocketKey& k = e.key;
        if (k.remote_port == 0 || !k.local_addr.is_loopback() || !k.remote_addr.is_loopback())
            return nullptr;
        if (const auto* p = h.find(peer_key(k))) return p;
        if (k.family != AF_INET6 || !k.local_addr.is_v4_mapped()) return nullptr;
        SocketKey v4key = peer_key(k);
        v4key.family = AF_INET;
        v4key.local_addr = v4key.local_addr.unmapped();
        v4key.remote_addr = v4key.remote_addr.unmapped();
        return h.find(v4key);
    };

    std::mt19937 rng(20261202);
    std::size_t checked = 0, paired = 0, fallbacks = 0, second_ordinals = 0, forgotten = 0;
    std::uint64_t t = 0;
    std::uint64_t skaddr = 1;
    for (int step = 0; step < 400; ++step) {
        t += 10;
        if (step % 7 == 3) {
            // A traced connection comes and goes between snapshots: made and closed by events.
            const auto& r = universe[rng() % universe.size()];
            std::vector<TransitionEvent> evs{ev(t - 5, skaddr, r.local_port, r.remote_port, kSynSent, kEst),
                                             ev(t - 4, skaddr, r.local_port, r.remote_port, kEst, kClose)};
            ++skaddr;
            h.apply_events(evs);
        } else {
            std::vector<SocketRecord> now;
            for (const auto& r : universe)
                if (rng() % 3 == 0) now.push_back(r);
            if (!now.empty() && rng() % 4 == 0) now.push_back(now.front());  // held twice
            const std::size_t before = h.size();
            h.apply_snapshot(snap(t, now));
            if (h.size() < before) ++forgotten;
            std::size_t open = 0;
            h.for_each([&](const HistoryEntry& e) { open += e.open() ? 1 : 0; });
            ASSERT_EQ(open, now.size()) << "step " << step << ": one open entry per record listed";
        }
        h.for_each([&](const HistoryEntry& e) {
            const HistoryEntry* want = expected(e);
            ASSERT_EQ(h.peer_of(e), want) << "step " << step << ", entry " << e.id << " ("
                                          << e.record.local_port << " -> " << e.record.remote_port
                                          << ", family " << int(e.key.family) << ", ordinal "
                                          << e.ordinal << ")";
            ++checked;
            if (want != nullptr) ++paired;
            if (want != nullptr && want->key.family != e.key.family) ++fallbacks;
            if (e.ordinal > 0) ++second_ordinals;
        });
        if (HasFatalFailure()) return;
    }
    // The walk went where it had to: pairs, dual-stack fallbacks, ordinals above 0, and
    // entries forgotten (their nodes gone from the map).
    EXPECT_GT(checked, 4000u);
    EXPECT_GT(paired, 1000u);
    EXPECT_GT(fallbacks, 50u);
    EXPECT_GT(second_ordinals, 50u);
    EXPECT_GT(forgotten, 50u);
}

// A snapshot's records are matched to entries by guessing that the kernel lists its table
// in the order it did last time, and looking up what the guess misses. Whatever the order,
// the same sockets keep their entries, and what left or came is exactly what the diff says.
TEST(History, SocketsListedInAnyOrderKeepTheirEntries) {
    std::vector<SocketRecord> all;
    for (std::uint16_t p = 0; p < 300; ++p) all.push_back(rec(static_cast<std::uint16_t>(20000 + p), 8080, kEst));
    all.push_back(rec(8080, 0, kListen));
    all.push_back(rec(8080, 0, kListen));  // SO_REUSEPORT: one 4-tuple, two sockets
    History h;
    h.apply_snapshot(snap(10, all));
    ASSERT_EQ(h.size(), all.size());
    std::map<std::pair<std::uint16_t, std::uint32_t>, std::uint64_t> ids;  // (port, ordinal)
    h.for_each([&](const HistoryEntry& e) { ids[{e.key.local_port, e.ordinal}] = e.id; });
    ASSERT_EQ(ids.size(), all.size());

    std::mt19937 rng(7);
    std::uint64_t t = 10;
    std::vector<SocketRecord> prev = all;
    const auto is_listener = [](const SocketRecord& r) { return r.remote_port == 0; };
    for (int round = 0; round < 40; ++round) {
        std::vector<SocketRecord> now = all;
        switch (round % 4) {
            case 0: std::shuffle(now.begin(), now.end(), rng); break;
            case 1: std::rotate(now.begin(), now.begin() + static_cast<std::ptrdiff_t>(rng() % now.size()), now.end()); break;
            case 2: std::reverse(now.begin(), now.end()); break;
            default: {
                // All in the first order once more (those that left come back) ...
                h.apply_snapshot(snap(t += 10, all));
                for (const auto id : h.last_diff().added)
                    h.for_each([&](const HistoryEntry& e) {
                        if (e.id == id) ids[{e.key.local_port, e.ordinal}] = id;
                    });
                prev = all;
                // ... then the listener first, the socket listed just before its ordinal-0
                // entry, and the listener again: the guess for the second listener record is
                // the entry the first one already took, and must not be taken twice.
                const auto first = std::find_if(prev.begin(), prev.end(), is_listener);
                if (first == prev.begin() || first == prev.end()) break;
                const SocketRecord before = *(first - 1);
                std::erase_if(now, [&](const SocketRecord& r) { return is_listener(r) || r.local_port == before.local_port; });
                now.insert(now.begin(), {all.back(), before, all.back()});
                break;
            }
        }
        // Every third round, a few sockets leave (and come back in the next round).
        std::set<std::uint16_t> left;
        if (round % 3 == 0)
            for (int i = 0; i < 5; ++i) left.insert(static_cast<std::uint16_t>(20000 + rng() % 300));
        std::erase_if(now, [&](const SocketRecord& r) { return left.count(r.local_port) != 0; });
        h.apply_snapshot(snap(t += 10, now));
        prev = now;
        const auto& d = h.last_diff();
        EXPECT_EQ(d.closed.size(), left.size()) << "round " << round;
        for (const auto id : d.closed) {
            bool named = false;
            for (const auto port : left) named |= ids.at({port, 0}) == id;
            EXPECT_TRUE(named) << "round " << round << ": entry " << id << " closed but listed";
        }
        std::size_t open = 0;
        h.for_each([&](const HistoryEntry& e) {
            if (!e.open()) return;
            ++open;
            const std::uint64_t was = ids.at({e.key.local_port, e.ordinal});
            if (std::find(d.added.begin(), d.added.end(), e.id) != d.added.end())
                ids[{e.key.local_port, e.ordinal}] = e.id;  // came back: a new socket, a new entry
            else
                EXPECT_EQ(e.id, was) << "round " << round << ", port " << e.key.local_port;
        });
        EXPECT_EQ(open, now.size()) << "round " << round;
        EXPECT_EQ(h.find(key_of(all.back()), 1)->id, ids.at({8080, 1})) << "round " << round;
    }
}

// An entry the last snapshot listed, closed by the tracer and then forgotten, is no guess for
// the next snapshot (its slot is freed: under AddressSanitizer a use would stop the test).
TEST(History, AForgottenEntryIsNoGuessForTheNextSnapshot) {
    History h;
    h.apply_snapshot(snap(10, {rec(41000, 8080, kEst), rec(41001, 8080, kEst)}));
    std::vector<TransitionEvent> evs{ev(20, 0x9, 41000, 8080, kEst, kClose)};
    h.apply_events(evs);
    ASSERT_FALSE(h.find(key(41000, 8080))->open());
    h.expire(20 + 121'000'000'000ull);  // past the 120 s retention
    ASSERT_EQ(h.find(key(41000, 8080)), nullptr);
    const std::uint64_t kept = h.find(key(41001, 8080))->id;
    h.apply_snapshot(snap(30, {rec(41002, 8080, kEst), rec(41001, 8080, kEst)}));
    ASSERT_EQ(h.last_diff().added.size(), 1u);
    EXPECT_EQ(h.last_diff().added[0], h.find(key(41002, 8080))->id);
    EXPECT_EQ(h.find(key(41001, 8080))->id, kept);
    EXPECT_TRUE(h.last_diff().closed.empty());
}

TEST(History, KeysTracedEventsBySkaddrUntilThePortIsKnown) {
    History h;
    // connect(): SYN_SENT is reported before the source port is chosen.
    std::vector<TransitionEvent> evs{ev(100, 0xabc, 0, 8080, kClose, kSynSent),
                                     ev(250, 0xabc, 41000, 8080, kSynSent, kEst)};
    h.apply_events(evs);
    const auto* e = h.find(key(41000, 8080));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->skaddr, 0xabcu);
    ASSERT_EQ(e->lifeline.size(), 2u);
    EXPECT_EQ(e->lifeline[0].state, kSynSent);
    EXPECT_EQ(e->lifeline[0].start_ns, 100u);
    EXPECT_EQ(e->lifeline[0].end_ns, 250u);
    EXPECT_TRUE(e->lifeline[0].traced);
    EXPECT_EQ(e->lifeline[1].state, kEst);
    EXPECT_EQ(h.size(), 1u);

    // Polling then sees ESTABLISHED: that interval is confirmed; SYN_SENT polling never saw.
    h.apply_snapshot(snap(1000, {rec(41000, 8080, kEst)}));
    e = h.find(key(41000, 8080));
    EXPECT_TRUE(e->lifeline[1].polled);
    EXPECT_TRUE(e->lifeline[0].unseen_by_polling());
    EXPECT_FALSE(e->lifeline[1].unseen_by_polling());
    EXPECT_EQ(e->lifeline.size(), 2u) << "a snapshot agreeing with the trace adds nothing";
}

TEST(History, FillsTheTimewaitLifeFromPollingAfterATracedClose) {
    History h;
    h.apply_snapshot(snap(100, {rec(41000, 8080, kEst)}));
    std::vector<TransitionEvent> evs{ev(200, 0x1, 41000, 8080, kEst, kFin1),
                                     ev(210, 0x1, 41000, 8080, kFin1, kFin2),
                                     ev(220, 0x1, 41000, 8080, kFin2, kClose)};
    h.apply_events(evs);
    const auto* e = h.find(key(41000, 8080));
    ASSERT_NE(e, nullptr);
    EXPECT_FALSE(e->open()) << "the tracepoint's last word is CLOSE";
    h.apply_snapshot(snap(1000, {rec(41000, 8080, kTimeWait)}));
    e = h.find(key(41000, 8080));
    EXPECT_TRUE(e->open());
    ASSERT_GE(e->lifeline.size(), 4u);
    const auto& tw = e->lifeline.back();
    EXPECT_EQ(tw.state, kTimeWait);
    EXPECT_EQ(tw.start_ns, 220u) << "TIME_WAIT began when the full socket closed";
    EXPECT_TRUE(tw.polled);
    EXPECT_FALSE(tw.traced);
    EXPECT_EQ(e->lifeline[e->lifeline.size() - 2].state, kFin2);
    EXPECT_TRUE(h.last_diff().closed.empty());
}

TEST(History, ASnapshotOlderThanAnEventDoesNotUndoIt) {
    History h;
    h.apply_snapshot(snap(100, {rec(8080, 40000, kEst)}));
    std::vector<TransitionEvent> evs{ev(500, 0x2, 8080, 40000, kEst, kCloseWait)};
    h.apply_events(evs);
    h.apply_snapshot(snap(400, {rec(8080, 40000, kEst)}));  // taken before the event
    EXPECT_EQ(h.find(key(8080, 40000))->record.state, kCloseWait);
    EXPECT_TRUE(h.last_diff().changed.empty());
}

TEST(History, AReusedFourTupleIsANewSocket) {
    History h;
    h.apply_snapshot(snap(100, {rec(8080, 40000, kEst)}));
    const auto first = h.find(key(8080, 40000))->id;
    h.apply_snapshot(snap(200, {}));
    EXPECT_FALSE(h.find(key(8080, 40000))->open());
    h.apply_snapshot(snap(300, {rec(8080, 40000, kEst)}));
    const auto* again = h.find(key(8080, 40000));
    EXPECT_TRUE(again->open());
    EXPECT_NE(again->id, first);
    EXPECT_EQ(again->added_ns, 300u);
    ASSERT_EQ(h.last_diff().added.size(), 1u);
}

TEST(History, SocketsSharingAFourTupleGetOrdinals) {
    History h;
    h.apply_snapshot(snap(100, {rec(8080, 0, kListen), rec(8080, 0, kListen)}));  // SO_REUSEPORT
    EXPECT_EQ(h.size(), 2u);
    ASSERT_NE(h.find(key_of(rec(8080, 0, kListen)), 1), nullptr);
    h.apply_snapshot(snap(200, {rec(8080, 0, kListen), rec(8080, 0, kListen)}));
    EXPECT_TRUE(h.last_diff().added.empty());
    EXPECT_TRUE(h.last_diff().closed.empty());
}

TEST(History, ForgetsClosedSocketsAfterTheRetentionTime) {
    HistoryOptions opts;
    opts.retain = std::chrono::nanoseconds(1000);
    opts.max_closed = 2;
    History h(opts);
    h.apply_snapshot(snap(100, {rec(1, 2, kEst), rec(3, 4, kEst), rec(5, 6, kEst), rec(7, 8, kEst)}));
    h.apply_snapshot(snap(200, {rec(7, 8, kEst)}));
    EXPECT_EQ(h.size(), 3u) << "at most max_closed closed sockets are kept";
    h.apply_snapshot(snap(1500, {rec(7, 8, kEst)}));
    EXPECT_EQ(h.size(), 1u) << "closed longer than `retain` ago: forgotten";
    EXPECT_NE(h.find(key(7, 8)), nullptr);
}

TEST(History, BoundsTheLifelineAndTheTransitionLog) {
    HistoryOptions opts;
    opts.max_intervals = 4;
    opts.max_transitions = 5;
    History h(opts);
    std::uint64_t t = 100;
    h.apply_snapshot(snap(t, {rec(8080, 40000, kEst)}));
    for (int i = 0; i < 10; ++i) {
        t += 100;
        h.apply_snapshot(snap(t, {rec(8080, 40000, i % 2 ? kEst : kCloseWait)}));
    }
    EXPECT_EQ(h.find(key(8080, 40000))->lifeline.size(), 4u);
    EXPECT_EQ(h.transitions().size(), 5u);
    EXPECT_EQ(h.transitions().back().seq, 10u);
}

}  // namespace
}  // namespace socklab
