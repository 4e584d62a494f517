// History: snapshots and traced events into lifelines, diffs and peer pairs — on hand-made
// inputs, so every rule is checked exactly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

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
