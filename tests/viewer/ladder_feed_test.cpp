// LadderFeed on the real kernel: its worker thread captures a loopback connection of the test's
// own (libpcap on lo, filtered to the listener's port) and publishes it as the selected
// conversation — SYN, SYN-ACK, ACK with relative numbers — while the test thread reads the
// snapshots (also under ThreadSanitizer). Root only: capturing needs CAP_NET_RAW.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

#include "model/ladder_feed.hpp"
#include "socklab/history.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"
#include "testsupport.hpp"

namespace socklab::viewer {
namespace {

using namespace std::chrono_literals;

TEST(LadderFeed, PublishesACapturedHandshakeAsTheSelectedConversation) {
    SOCKLAB_REQUIRE_ROOT();
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    LadderFeedOptions o;
    o.capture.ports = {port};
    LadderFeed feed(o);
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    sel.ports = {port};
    feed.select(sel);  // the capture is open when this returns
    ASSERT_TRUE(feed.started());

    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    const auto snap = feed.wait_until(
        [](const LadderSnapshot& s) { return s.selected && s.selected->segment_count() >= 3; }, 10s);
    ASSERT_TRUE(snap && snap->selected) << "no conversation published for port " << port;
    ASSERT_TRUE(snap->capture_active) << snap->capture_message;
    EXPECT_EQ(snap->capture_stats.lost(), 0u);
    const auto& c = *snap->selected;
    EXPECT_EQ(c.client.port, cport);
    EXPECT_EQ(c.server.port, port);
    EXPECT_TRUE(c.roles_known);
    std::vector<const Segment*> segs;
    for (const auto& it : c.items)
        if (const auto* s = it.segment()) segs.push_back(s);
    ASSERT_EQ(segs.size(), 3u) << "the handshake only: nothing else was sent";
    EXPECT_EQ(flags_label(segs[0]->flags), "SYN");
    EXPECT_EQ(flags_label(segs[1]->flags), "SYN-ACK");
    EXPECT_EQ(flags_label(segs[2]->flags), "ACK");
    EXPECT_EQ(segs[0]->rel_seq, 0u);
    EXPECT_EQ(segs[1]->rel_ack, 1u);
    EXPECT_EQ(segs[2]->rel_seq, 1u);
    EXPECT_EQ(segs[2]->rel_ack, 1u);
    ASSERT_FALSE(snap->recent.empty());
    EXPECT_EQ(snap->recent.front().server, "127.0.0.1:" + std::to_string(port));
    EXPECT_FALSE(snap->selected_ended);

    // Another selection is answered by a later snapshot.
    LadderSelection none;
    feed.select(none);
    const auto before = feed.latest()->seq;
    ASSERT_TRUE(feed.wait_for_snapshot(before, 5s));
    bool answered = false;
    for (int i = 0; i < 100 && !answered; ++i) {
        const auto s = feed.latest();
        answered = s->selection.mode == LadderSelection::Mode::none && !s->selected;
        if (!answered) (void)feed.wait_for_snapshot(s->seq, 1s);
    }
    EXPECT_TRUE(answered);
    feed.stop();
}

// connect() reports SYN_SENT before it picks the source port, so that traced event names no
// local port. The feed still shows it on the client's side, before the ESTABLISHED it led to:
// the kernel's socket address ties it to the socket's later events.
TEST(LadderFeed, TheClientsSynSentIsPlacedBeforeItsEstablished) {
    SOCKLAB_REQUIRE_ROOT();
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    TracerOptions to;
    to.port = port;
    Tracer tracer(to);
    ASSERT_TRUE(tracer.status().active) << tracer.status().message;

    std::mutex mu;  // the feed's worker pulls; the test only reads snapshots
    History history;
    std::vector<TransitionEvent> events;
    LadderFeedOptions o;
    o.capture.ports = {port};
    o.transitions = [&](std::uint64_t after, std::vector<ObservedTransition>& out) {
        std::lock_guard lock(mu);
        events.clear();
        tracer.poll(events, std::chrono::milliseconds(0));
        history.apply_events(events);
        std::uint64_t newest = after;
        for (const auto& t : history.transitions()) {
            if (t.seq <= after) continue;
            out.push_back(t);
            newest = t.seq;
        }
        return newest;
    };
    LadderFeed feed(o);
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    sel.ports = {port};
    feed.select(sel);
    ASSERT_TRUE(feed.started());

    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    const auto syn_sent = static_cast<std::uint8_t>(TcpState::syn_sent);
    const auto established = static_cast<std::uint8_t>(TcpState::established);
    // Index of the client's transition into `state`, or -1.
    const auto client_into = [&](const Conversation& c, std::uint8_t state) {
        for (std::size_t i = 0; i < c.items.size(); ++i) {
            const auto* t = c.items[i].transition();
            if (t != nullptr && t->new_state == state && c.items[i].side == Side::client)
                return static_cast<long>(i);
        }
        return -1L;
    };
    const auto snap = feed.wait_until(
        [&](const LadderSnapshot& s) {
            return s.selected && client_into(*s.selected, syn_sent) >= 0 &&
                   client_into(*s.selected, established) >= 0;
        },
        10s);
    ASSERT_TRUE(snap && snap->selected) << "no conversation published for port " << port;
    const auto& c = *snap->selected;
    EXPECT_EQ(c.client.port, cport);
    const auto sent = client_into(c, syn_sent);
    const auto est = client_into(c, established);
    ASSERT_GE(sent, 0) << "the client's SYN_SENT is not in the ladder";
    ASSERT_GE(est, 0) << "the client's ESTABLISHED is not in the ladder";
    EXPECT_LT(sent, est);
    std::size_t syn_sents = 0;
    for (const auto& item : c.items)
        if (const auto* t = item.transition(); t != nullptr && t->new_state == syn_sent) ++syn_sents;
    EXPECT_EQ(syn_sents, 1u) << "the held SYN_SENT was placed more than once";
    // The SYN left after connect() entered SYN_SENT.
    for (std::size_t i = 0; i < c.items.size(); ++i) {
        const auto* s = c.items[i].segment();
        if (s != nullptr && flags_label(s->flags) == "SYN") {
            EXPECT_LT(sent, static_cast<long>(i));
        }
    }
    feed.stop();
}

}  // namespace
}  // namespace socklab::viewer
