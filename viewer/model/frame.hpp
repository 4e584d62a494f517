#pragma once
// The immutable picture the poller publishes and every panel reads: one snapshot of the table
// joined with owners and history. Built on the poller thread, never changed afterwards, so the
// UI thread reads it without locks and without system calls.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "socklab/history.hpp"
#include "socklab/record.hpp"

namespace socklab::viewer {

inline constexpr std::size_t kStateSlots = kMaxKernelState + 1;

struct Row {
    SocketRecord rec;
    std::uint64_t entry_id = 0;
    std::uint64_t added_ns = 0;    // 0: present since the viewer started
    std::uint64_t changed_ns = 0;  // last change of state or queues; 0: none seen
    std::uint64_t closed_ns = 0;   // 0 while open
    std::uint64_t state_since_ns = 0;
    std::int32_t peer = -1;        // index of the other end of a loopback connection
    std::uint32_t life_begin = 0;  // this socket's lifeline: Frame::intervals[life_begin, +life_count)
    std::uint32_t life_count = 0;
    bool traced = false;           // the tracer reported on this socket
    // Owner (first holder; more_owners counts the others). pid 0: none known.
    std::int32_t pid = 0;
    std::uint32_t more_owners = 0;
    std::string process;
    std::string user;
    std::string local_text;   // "127.0.0.1:8080"
    std::string remote_text;  // "127.0.0.1:41022", "*:*" when unconnected
};

struct Privileges {
    bool root = false;
    bool owners_all = false;  // every process's descriptors were readable
    std::size_t owners_unreadable = 0;
    bool tracer_active = false;
    std::string tracer_message;  // why not, and the command that enables it
};

struct Frame {
    std::uint64_t seq = 0;            // 1, 2, ... per publish
    std::uint64_t taken_ns = 0;       // CLOCK_MONOTONIC of the snapshot
    double snapshot_ms = 0;           // cost of the kernel dump
    double owners_ms = 0;             // cost of the owner scan
    double build_ms = 0;              // history + frame build + view
    double history_ms = 0;            // of which: the history update (events and snapshot)
    double rows_ms = 0;               // the rows built from the history
    double view_ms = 0;               // the view filtered and sorted
    double poll_ms = 0;               // the whole poll: snapshot, history, owners, build, view
    double publish_ms = 0;            // from the poll's start to this frame being published
    double poll_cpu_ms = 0;           // CPU time of the poller thread for the whole poll
    std::string source;               // "netlink" / "proc"
    std::string error;                // the last poll failed: why (rows are from before)
    std::vector<Row> rows;            // what the table shows: open sockets + closed < 2 s ago
    std::vector<Row> gone;            // closed longer ago, still on the timeline
    std::vector<StateInterval> intervals;  // all lifelines, flattened
    std::array<std::uint32_t, kStateSlots> tcp_counts{};  // open TCP sockets per state
    std::uint32_t udp_count = 0;
    Privileges privileges;
    std::uint64_t lost_events = 0;

    // The table's rows filtered and sorted for the view the UI last asked for (view_version;
    // 0: none). Done on the poller thread, so a new frame costs the UI thread nothing.
    std::uint64_t view_version = 0;
    std::vector<std::uint32_t> view_order;
    std::array<std::uint32_t, kStateSlots> view_counts{};

    [[nodiscard]] std::span<const StateInterval> lifeline(const Row& r) const {
        return {intervals.data() + r.life_begin, r.life_count};
    }
};

using FramePtr = std::shared_ptr<const Frame>;

}  // namespace socklab::viewer
