// The viewer's frame builder on a hand-made History: peers linked, closed rows kept on the
// table for the linger time and on the timeline after it.
#include <gtest/gtest.h>

#include <chrono>
#include <span>
#include <string>
#include <vector>
#include <unordered_map>

#include "model/frame_builder.hpp"
#include "sample_records.hpp"
#include "socklab/history.hpp"

namespace socklab {
namespace {

using namespace test::samples;

SocketRecord rec6(std::uint16_t lport, std::uint16_t rport, const char* laddr, const char* raddr) {
    SocketRecord r = rec(lport, rport, kEst);
    r.family = AF_INET6;
    in6_addr a{};
    ::inet_pton(AF_INET6, laddr, &a);
    r.local_addr = IpAddr::v6(&a);
    ::inet_pton(AF_INET6, raddr, &a);
    r.remote_addr = IpAddr::v6(&a);
    return r;
}

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

// A row's peer is the row of the entry History::peer_of() names, or none when that entry is off
// the table: in every shape a peer can have (IPv4, IPv6, dual-stack, one 4-tuple twice, one end
// closed), counted by hand as well.
TEST(FrameBuilder, PeersAreTheRowsHistoryPeerOfNames) {
    std::vector<SocketRecord> first = {
        rec(8080, 0, kListen),
        rec(8080, 40000, kEst), rec(40000, 8080, kEst),                          // IPv4
        rec6(8081, 40001, "::ffff:127.0.0.1", "::ffff:127.0.0.1"),               // dual-stack server
        rec(40001, 8081, kEst),                                                  // ... its IPv4 client
        rec6(8082, 40002, "::1", "::1"), rec6(40002, 8082, "::1", "::1"),        // IPv6
        rec(8083, 40003, kEst), rec(8083, 40003, kEst), rec(40003, 8083, kEst),  // one 4-tuple twice
        rec(8084, 40004, kEst),                                                  // its peer not listed
        rec(5555, 443, kEst, "10.0.0.2", "10.0.0.9"), rec(443, 5555, kEst, "10.0.0.9", "10.0.0.2"),
        rec(8085, 40005, kEst), rec(40005, 8085, kEst),                          // one end closes
    };
    for (std::uint16_t p = 41000; p < 41400; ++p) {  // enough rows for hash neighbours
        first.push_back(rec(9090, p, kEst));
        if (p % 3 != 0) first.push_back(rec(p, 9090, kEst));
    }
    History h;
    h.apply_snapshot(snap(1'000'000'000, first));
    auto second = first;
    std::erase_if(second, [](const SocketRecord& r) { return r.local_port == 40005; });
    h.apply_snapshot(snap(2'000'000'000, second));

    for (const std::uint64_t now : {2'000'000'000ull, 9'000'000'000ull}) {  // closed end on, then off the table
        viewer::BuildInputs in;
        in.now_ns = now;
        in.closed_linger = std::chrono::milliseconds(2000);
        const auto f = viewer::build_frame(h, in);
        std::unordered_map<std::uint64_t, std::int32_t> row_of_id;
        for (std::size_t i = 0; i < f->rows.size(); ++i) row_of_id[f->rows[i].entry_id] = static_cast<std::int32_t>(i);
        std::unordered_map<std::uint64_t, const HistoryEntry*> entry_of_id;
        h.for_each([&](const HistoryEntry& e) { entry_of_id[e.id] = &e; });
        int linked = 0;
        for (const auto& r : f->rows) {
            const HistoryEntry* p = h.peer_of(*entry_of_id.at(r.entry_id));
            const auto want = p != nullptr && row_of_id.count(p->id) ? row_of_id.at(p->id) : -1;
            EXPECT_EQ(r.peer, want) << r.local_text << " -> " << r.remote_text << " at " << now;
            linked += r.peer >= 0;
        }
        // 8080 and 40000; the dual-stack server (its IPv4 client looks for an IPv4 server, not
        // held); both ends over IPv6; 8083 twice (ordinals 0 and 1 find the one client) and
        // 40003; 267 of the 400 others both ways; 8085 and 40005 while 40005 is on the table.
        EXPECT_EQ(linked, 2 + 1 + 2 + 3 + 2 * 267 + (now == 2'000'000'000ull ? 2 : 0)) << "at " << now;
    }
}

// The poller hands the frame two polls old back to be filled again: the new frame must be
// exactly what a fresh one would be (nothing of the old left over: counts, view, peers,
// timings), in the old one's storage.
// Every field of two rows, so a reused row that kept something of its last life shows.
void expect_same_row(const viewer::Row& a, const viewer::Row& b, const char* where, std::size_t i) {
    SCOPED_TRACE(std::string(where) + " row " + std::to_string(i));
    EXPECT_EQ(key_of(a.rec), key_of(b.rec));
    EXPECT_EQ(a.rec.state, b.rec.state);
    EXPECT_EQ(a.rec.inode, b.rec.inode);
    EXPECT_EQ(a.entry_id, b.entry_id);
    EXPECT_EQ(a.added_ns, b.added_ns);
    EXPECT_EQ(a.changed_ns, b.changed_ns);
    EXPECT_EQ(a.closed_ns, b.closed_ns);
    EXPECT_EQ(a.state_since_ns, b.state_since_ns);
    EXPECT_EQ(a.peer, b.peer);
    EXPECT_EQ(a.life_begin, b.life_begin);
    EXPECT_EQ(a.life_count, b.life_count);
    EXPECT_EQ(a.traced, b.traced);
    EXPECT_EQ(a.pid, b.pid);
    EXPECT_EQ(a.more_owners, b.more_owners);
    EXPECT_EQ(a.process, b.process);
    EXPECT_EQ(a.user, b.user);
    EXPECT_EQ(a.local_text, b.local_text);
    EXPECT_EQ(a.remote_text, b.remote_text);
}

TEST(FrameBuilder, AReusedFrameHoldsExactlyWhatAFreshOneDoes) {
    History h;
    h.apply_snapshot(snap(1'000'000'000, {rec(8080, 0, kListen), rec(8080, 40000, kEst), rec(40000, 8080, kEst),
                                          rec(9000, 0, kListen), rec(9001, 0, kListen)}));
    // The old frame: every socket owned (two holders each), its rows paired.
    const std::vector<ProcessRef> two{{101, 3, 1000, "old-server", "olduser"}, {102, 4, 0, "old-other", "root"}};
    viewer::BuildInputs in;
    in.now_ns = 1'000'000'000;
    in.owners = [&](std::uint64_t) { return std::span<const ProcessRef>(two); };
    auto old = viewer::build_frame(h, in);
    ASSERT_EQ(old->rows.size(), 5u);
    old->view_order = {4, 3, 2, 1, 0};
    old->view_version = 7;
    old->seq = 41;
    old->poll_ms = 12.5;
    old->error = "an old error";
    old->rows.reserve(64);  // room for the next table (a poll's table rarely grows much)
    const auto* storage = old->rows.data();

    // The new table is smaller; some of its sockets have no owner, and none are paired where
    // the old rows were.
    h.apply_snapshot(snap(2'000'000'000, {rec(8080, 0, kListen), rec(8080, 40001, kEst), rec(40001, 8080, kEst)}));
    in.now_ns = 5'000'000'000;  // the closed ones are off the table
    const std::vector<ProcessRef> one{{7, 5, 0, "server", "root"}};
    in.owners = [&](std::uint64_t inode) {
        return inode == 1000u + 8080 ? std::span<const ProcessRef>(one) : std::span<const ProcessRef>();
    };
    in.users = [](std::uint32_t uid) { return "uid" + std::to_string(uid); };
    const auto fresh = viewer::build_frame(h, in);
    const auto reused = viewer::build_frame(h, in, old);
    EXPECT_EQ(reused->rows.data(), storage) << "the old rows' storage was not reused";
    ASSERT_EQ(reused->rows.size(), fresh->rows.size());
    ASSERT_EQ(fresh->rows.size(), 3u);
    for (std::size_t i = 0; i < fresh->rows.size(); ++i) expect_same_row(fresh->rows[i], reused->rows[i], "table", i);
    ASSERT_EQ(reused->gone.size(), fresh->gone.size());
    for (std::size_t i = 0; i < fresh->gone.size(); ++i) expect_same_row(fresh->gone[i], reused->gone[i], "gone", i);
    // What the fresh frame holds, spelled out: two rows owned, a client end without one.
    std::size_t owned = 0, paired = 0;
    for (const auto& r : reused->rows) {
        owned += r.pid != 0 ? 1 : 0;
        paired += r.peer >= 0 ? 1 : 0;
        if (r.pid == 0) {
            EXPECT_TRUE(r.process.empty() && r.more_owners == 0 && r.user == "uid0");
        }
    }
    EXPECT_EQ(owned, 2u);  // the listener and the server's end: both local port 8080, inode 1080
    EXPECT_EQ(paired, 2u);
    EXPECT_EQ(reused->intervals.size(), fresh->intervals.size());
    EXPECT_EQ(reused->tcp_counts, fresh->tcp_counts);
    EXPECT_TRUE(reused->view_order.empty());
    EXPECT_EQ(reused->view_version, 0u);
    EXPECT_EQ(reused->seq, 0u);
    EXPECT_EQ(reused->poll_ms, 0.0);
    EXPECT_TRUE(reused->error.empty());

    // And back to a bigger table in the same frame: rows written over and rows added.
    h.apply_snapshot(snap(6'000'000'000, {rec(8080, 0, kListen), rec(8080, 40001, kEst), rec(40001, 8080, kEst),
                                          rec(9100, 0, kListen), rec(9101, 0, kListen), rec(9102, 0, kListen)}));
    in.now_ns = 6'000'000'000;
    const auto fresh2 = viewer::build_frame(h, in);
    auto* raw = reused.get();
    const auto reused2 = viewer::build_frame(h, in, std::const_pointer_cast<viewer::Frame>(reused));
    EXPECT_EQ(reused2.get(), raw);
    ASSERT_EQ(reused2->rows.size(), fresh2->rows.size());
    for (std::size_t i = 0; i < fresh2->rows.size(); ++i) expect_same_row(fresh2->rows[i], reused2->rows[i], "grown", i);
}

}  // namespace
}  // namespace socklab
