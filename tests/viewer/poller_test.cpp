// The poller thread and its hand-off to the UI thread: frames are immutable and complete,
// pause and poll-now work, transitions reach the feed. Runs under TSan in the tsan preset.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "model/poller.hpp"
#include "socklab/error.hpp"
#include "testsupport.hpp"

namespace socklab::viewer {
namespace {

using namespace std::chrono_literals;

// A table that grows by one connection per snapshot; every other snapshot the first moves
// to CLOSE_WAIT. Thread-safe: the poller thread calls it, the test reads `taken`.
class GrowingSource final : public Source {
public:
    std::atomic<int> taken{0};
    [[nodiscard]] std::string_view name() const noexcept override { return "growing"; }
    void snapshot_into(const Query&, Snapshot& out) override {
        const int n = ++taken;
        out.sockets.clear();
        out.taken_ns = monotonic_ns();
        const std::uint32_t lo = htonl(0x7f000001);
        for (int i = 0; i < n; ++i) {
            SocketRecord r;
            r.family = AF_INET;
            r.local_addr = r.remote_addr = IpAddr::v4(&lo);
            r.local_port = static_cast<std::uint16_t>(20000 + i);
            r.remote_port = 8080;
            r.state = static_cast<std::uint8_t>(i == 0 && n % 2 == 0 ? TcpState::close_wait
                                                                         : TcpState::established);
            out.sockets.push_back(r);
        }
    }
};

PollerOptions fake_options(GrowingSource** out) {
    PollerOptions o;
    o.interval = 100ms;
    o.trace = false;
    o.owners = false;
    o.make_source = [out] {
        auto s = std::make_unique<GrowingSource>();
        *out = s.get();
        return s;
    };
    return o;
}

TEST(Poller, PublishesFramesBuiltFromTheSource) {
    GrowingSource* src = nullptr;
    Poller p(fake_options(&src));
    EXPECT_EQ(p.latest()->seq, 0u) << "an empty frame before the first poll, never null";
    p.start();
    ASSERT_TRUE(p.wait_for_frame(0, 5s));
    const auto f = p.latest();
    EXPECT_GE(f->seq, 1u);
    EXPECT_EQ(f->source, "growing");
    EXPECT_TRUE(f->error.empty());
    EXPECT_EQ(f->rows.size(), f->seq) << "one connection more per snapshot";
    EXPECT_FALSE(f->privileges.tracer_active);
    EXPECT_NE(f->privileges.tracer_message.find("--no-trace"), std::string::npos);
}

TEST(Poller, ManyReadersSeeCompleteImmutableFramesWhileItPublishes) {
    GrowingSource* src = nullptr;
    Poller p(fake_options(&src));
    p.start();
    ASSERT_TRUE(p.wait_for_frame(0, 5s));
    std::atomic<bool> stop{false};
    std::atomic<int> checked{0}, bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&] {
            std::vector<ObservedTransition> feed;
            std::uint64_t seq = 0;
            while (!stop) {
                const FramePtr f = p.latest();
                // A frame is complete: as many rows as the snapshot had, all lifelines in range.
                if (f->rows.size() != f->seq) ++bad;
                for (const auto& r : f->rows)
                    if (r.life_begin + r.life_count > f->intervals.size()) ++bad;
                seq = p.transitions_since(seq, feed);
                ++checked;
            }
        });
    // Drive the poller as fast as it goes.
    const auto start_seq = p.latest()->seq;
    for (int i = 0; i < 20; ++i) {
        const auto s = p.latest()->seq;
        p.poll_now();
        ASSERT_TRUE(p.wait_for_frame(s, 5s));
    }
    stop = true;
    for (auto& t : readers) t.join();
    EXPECT_GE(p.latest()->seq, start_seq + 20);
    EXPECT_GT(checked.load(), 0);
    EXPECT_EQ(bad.load(), 0);
}

TEST(Poller, PauseStopsPollingAndPollNowStillWorks) {
    GrowingSource* src = nullptr;
    Poller p(fake_options(&src));
    p.start();
    ASSERT_TRUE(p.wait_for_frame(0, 5s));
    p.set_paused(true);
    EXPECT_TRUE(p.paused());
    // Let a poll that was already under way finish, then expect silence for several intervals.
    p.wait_for_frame(p.latest()->seq, 300ms);
    const auto seq = p.latest()->seq;
    EXPECT_FALSE(p.wait_for_frame(seq, 500ms)) << "paused: no new frames in 5 intervals";
    p.poll_now();
    EXPECT_TRUE(p.wait_for_frame(seq, 5s)) << "poll now works while paused";
    p.set_paused(false);
    EXPECT_TRUE(p.wait_for_frame(seq + 1, 5s));
}

TEST(Poller, SortsNewFramesForTheUisViewSoTheUiThreadDoesNot) {
    GrowingSource* src = nullptr;
    Poller p(fake_options(&src));
    TableView view;
    view.set_sort({Column::local, false});
    view.set_filter_text("established");
    p.set_view(view.spec());
    p.start();
    ASSERT_TRUE(p.wait_for_frame(3, 5s));
    const FramePtr f = p.latest();
    EXPECT_EQ(f->view_version, view.version());
    ASSERT_TRUE(view.update(f, monotonic_ns()));
    EXPECT_TRUE(view.adopted()) << "the UI took the poller's order instead of sorting";
    // And that order is the one the UI would have computed.
    std::vector<std::uint32_t> order;
    std::array<std::uint32_t, kStateSlots> counts{};
    compute_view(*f, parse_filter("established"), 0, {Column::local, false}, 0, order, counts);
    EXPECT_EQ(view.order(), order);
    EXPECT_EQ(view.state_counts(), counts);
    ASSERT_GE(order.size(), 2u);
    EXPECT_GT(f->rows[order[0]].rec.local_port, f->rows[order[1]].rec.local_port);
    // A view the poller has not seen yet is computed by the UI.
    view.set_sort({Column::local, true});
    view.update(f, monotonic_ns());
    EXPECT_FALSE(view.adopted());
}

TEST(Poller, ClampsTheInterval) {
    Poller p;
    p.set_interval(10ms);
    EXPECT_EQ(p.interval(), Poller::kMinInterval);
    p.set_interval(60s);
    EXPECT_EQ(p.interval(), Poller::kMaxInterval);
    p.set_interval(250ms);
    EXPECT_EQ(p.interval(), 250ms);
}

TEST(Poller, FeedsInferredTransitions) {
    GrowingSource* src = nullptr;
    Poller p(fake_options(&src));
    p.start();
    ASSERT_TRUE(p.wait_for_frame(2, 5s));
    std::vector<ObservedTransition> feed;
    p.transitions_since(0, feed);
    bool saw_close_wait = false;
    for (const auto& t : feed)
        if (t.new_state == static_cast<std::uint8_t>(TcpState::close_wait)) {
            saw_close_wait = true;
            EXPECT_FALSE(t.traced);
        }
    EXPECT_TRUE(saw_close_wait);
    // Asking again from the newest seq gives nothing old.
    const auto newest = feed.empty() ? 0 : feed.back().seq;
    std::vector<ObservedTransition> again;
    p.transitions_since(newest, again);
    for (const auto& t : again) EXPECT_GT(t.seq, newest);
}

TEST(Poller, ASourceThatCannotOpenIsReportedInTheFrame) {
    PollerOptions o;
    o.trace = false;
    o.owners = false;
    o.make_source = []() -> std::unique_ptr<Source> {
        throw Error("failed to open the socket table: no such thing");
    };
    Poller p(o);
    p.start();
    ASSERT_TRUE(p.wait_for_frame(0, 5s));
    EXPECT_NE(p.latest()->error.find("no such thing"), std::string::npos);
    EXPECT_TRUE(p.latest()->rows.empty());
}

// The real kernel: our own listener and connection appear, paired, owned by us; a close is
// seen as a change. As root in a private namespace (a quiet table); otherwise in the host's.
TEST(PollerLive, SeesOurSocketsTheirOwnerAndTheirPeer) {
    std::optional<test::PrivateNetns> ns;
    if (test::is_root()) ns.emplace();  // the poller thread inherits this thread's namespace
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    PollerOptions o;
    o.interval = 100ms;
    o.trace = false;
    Poller p(o);
    p.start();
    auto find = [&](const Frame& f, std::uint16_t l, std::uint16_t r) -> const Row* {
        for (const auto& row : f.rows)
            if (row.rec.local_port == l && row.rec.remote_port == r && row.closed_ns == 0) return &row;
        return nullptr;
    };
    FramePtr f;
    ASSERT_TRUE(test::wait_until([&] {
        f = p.latest();
        return find(*f, port, 0) && find(*f, port, cport) && find(*f, cport, port);
    }, 10s)) << "our three sockets never showed";
    const Row* lrow = find(*f, port, 0);
    EXPECT_EQ(lrow->rec.state, static_cast<std::uint8_t>(TcpState::listen));
    EXPECT_EQ(lrow->pid, ::getpid());
    const Row* srow = find(*f, port, cport);
    const Row* crow = find(*f, cport, port);
    ASSERT_GE(srow->peer, 0);
    EXPECT_EQ(&f->rows[static_cast<std::size_t>(srow->peer)], crow);
    EXPECT_EQ(&f->rows[static_cast<std::size_t>(crow->peer)], srow);

    client.reset();  // active close: our server end goes to CLOSE_WAIT
    ASSERT_TRUE(test::wait_until([&] {
        f = p.latest();
        const Row* r = find(*f, port, cport);
        return r && r->rec.state == static_cast<std::uint8_t>(TcpState::close_wait);
    }, 10s));
    const Row* changed = find(*f, port, cport);
    EXPECT_NE(changed->changed_ns, 0u);
    std::vector<ObservedTransition> feed;
    p.transitions_since(0, feed);
    bool saw = false;
    for (const auto& t : feed)
        saw |= t.key.local_port == port && t.key.remote_port == cport &&
               t.new_state == static_cast<std::uint8_t>(TcpState::close_wait);
    EXPECT_TRUE(saw);
    p.stop();
}

// With the tracer, a state change triggers a snapshot at once: at the longest interval (5 s)
// a new connection is in a published frame long before the next interval's snapshot.
TEST(PollerLive, ATracedChangeTriggersASnapshotBeforeTheInterval) {
    SOCKLAB_REQUIRE_ROOT();
    PollerOptions o;
    o.interval = Poller::kMaxInterval;
    o.owners = false;
    Poller p(o);
    p.start();
    ASSERT_TRUE(p.wait_for_frame(0, 10s));
    ASSERT_TRUE(p.latest()->privileges.tracer_active) << p.latest()->privileges.tracer_message;
    const auto first = p.latest()->seq;

    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    const auto connected_ns = monotonic_ns();
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());
    const auto shows = [&](const Frame& f) {
        for (const auto& row : f.rows)
            if (row.rec.local_port == cport && row.rec.remote_port == port)
                return row.rec.state == static_cast<std::uint8_t>(TcpState::established);
        return false;
    };
    FramePtr f;
    // Half the interval: the interval's own snapshot cannot be the one that shows it.
    const auto deadline = std::chrono::steady_clock::now() + Poller::kMaxInterval / 2;
    while (std::chrono::steady_clock::now() < deadline) {
        f = p.latest();
        if (shows(*f)) break;
        (void)p.wait_for_frame(f->seq, 100ms);
    }
    ASSERT_TRUE(f && shows(*f)) << "the connection was not shown within half the interval";
    EXPECT_GT(f->seq, first);
    EXPECT_GE(f->taken_ns, connected_ns);
    p.stop();
}

}  // namespace
}  // namespace socklab::viewer
