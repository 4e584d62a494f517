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

}  // namespace
}  // namespace socklab
