// The viewer's frame builder on a hand-made History: peers linked, closed rows kept on the
// table for the linger time and on the timeline after it.
#include <gtest/gtest.h>

#include <chrono>

#include "model/frame_builder.hpp"
#include "sample_records.hpp"
#include "socklab/history.hpp"

namespace socklab {
namespace {

using namespace test::samples;

TEST(FrameBuilder, LinksPeersAndKeepsClosedRowsForTheLingerTime) {
    History h;
    h.apply_snapshot(snap(1'000'000'000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(40000, 8080, kEst),
                                          rec(9000, 0, kListen)}));
    h.apply_snapshot(snap(2'000'000'000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(40000, 8080, kEst)}));
    viewer::BuildInputs in;
    in.now_ns = 3'000'000'000;
    in.closed_linger = std::chrono::milliseconds(2000);
    auto f = viewer::build_frame(h, in);
    ASSERT_EQ(f->rows.size(), 4u) << "closed 1 s ago: still shown (red)";
    EXPECT_TRUE(f->gone.empty());
    int linked = 0;
    for (std::size_t i = 0; i < f->rows.size(); ++i) {
        const auto& r = f->rows[i];
        if (r.peer < 0) continue;
        ++linked;
        const auto& p = f->rows[static_cast<std::size_t>(r.peer)];
        EXPECT_EQ(p.rec.local_port, r.rec.remote_port);
        EXPECT_EQ(p.peer, static_cast<std::int32_t>(i));
    }
    EXPECT_EQ(linked, 2);
    EXPECT_EQ(f->tcp_counts[kListen], 1u);
    EXPECT_EQ(f->tcp_counts[kEst], 2u);
    for (const auto& r : f->rows) {
        EXPECT_EQ(f->lifeline(r).size(), r.life_count);
        if (r.rec.local_port == 9000) {
            EXPECT_NE(r.closed_ns, 0u);
        }
    }

    in.now_ns = 5'000'000'000;  // 3 s after it closed: off the table, still on the timeline
    f = viewer::build_frame(h, in);
    EXPECT_EQ(f->rows.size(), 3u);
    ASSERT_EQ(f->gone.size(), 1u);
    EXPECT_EQ(f->gone[0].rec.local_port, 9000);
    EXPECT_EQ(f->gone[0].local_text, "127.0.0.1:9000");
    EXPECT_EQ(f->gone[0].remote_text, "*:*");
}

// The poller hands the frame two polls old back to be filled again: the new frame must be
// exactly what a fresh one would be (nothing of the old left over: counts, view, peers,
// timings), in the old one's storage.
TEST(FrameBuilder, AReusedFrameHoldsExactlyWhatAFreshOneDoes) {
    History h;
    h.apply_snapshot(snap(1'000'000'000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(40000, 8080, kEst),
                                          rec(9000, 0, kListen), rec(9001, 0, kListen)}));
    viewer::BuildInputs in;
    in.now_ns = 1'000'000'000;
    auto old = viewer::build_frame(h, in);
    old->view_order = {4, 3, 2, 1, 0};
    old->view_version = 7;
    old->seq = 41;
    old->poll_ms = 12.5;
    old->error = "an old error";
    old->rows.reserve(64);  // room for the next table (a poll's table rarely grows much)
    const auto* storage = old->rows.data();

    h.apply_snapshot(snap(2'000'000'000, {rec(8080, 0, kListen), rec(8080, 40001, kEst), rec(40001, 8080, kEst)}));
    in.now_ns = 5'000'000'000;  // the closed ones are off the table
    const auto fresh = viewer::build_frame(h, in);
    const auto reused = viewer::build_frame(h, in, old);
    EXPECT_EQ(reused->rows.data(), storage) << "the old rows' storage was not reused";
    ASSERT_EQ(reused->rows.size(), fresh->rows.size());
    for (std::size_t i = 0; i < fresh->rows.size(); ++i) {
        const auto& a = fresh->rows[i];
        const auto& b = reused->rows[i];
        EXPECT_EQ(a.entry_id, b.entry_id);
        EXPECT_EQ(a.peer, b.peer);
        EXPECT_EQ(a.local_text, b.local_text);
        EXPECT_EQ(a.remote_text, b.remote_text);
        EXPECT_EQ(a.closed_ns, b.closed_ns);
        EXPECT_EQ(a.life_begin, b.life_begin);
        EXPECT_EQ(a.life_count, b.life_count);
    }
    EXPECT_EQ(reused->gone.size(), fresh->gone.size());
    EXPECT_EQ(reused->intervals.size(), fresh->intervals.size());
    EXPECT_EQ(reused->tcp_counts, fresh->tcp_counts);
    EXPECT_TRUE(reused->view_order.empty());
    EXPECT_EQ(reused->view_version, 0u);
    EXPECT_EQ(reused->seq, 0u);
    EXPECT_EQ(reused->poll_ms, 0.0);
    EXPECT_TRUE(reused->error.empty());
}

}  // namespace
}  // namespace socklab
