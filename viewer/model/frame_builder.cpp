#include "frame_builder.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace socklab::viewer {

std::string endpoint_text(const IpAddr& addr, std::uint16_t port) {
    if (addr.is_any() || addr.family == 0) {
        return port == 0 ? std::string("*:*") : "*:" + std::to_string(port);
    }
    return format_endpoint(addr, port);
}

std::shared_ptr<Frame> build_frame(const History& history, const BuildInputs& in,
                                   std::shared_ptr<Frame> reuse) {
    std::shared_ptr<Frame> frame;
    if (reuse) {
        // Keep the arrays' storage, nothing else. The old rows stay constructed: each is
        // written over (its strings keep their buffers), and what is left over is dropped at
        // the end. Clearing and constructing them again cost a fifth of a poll at 100k.
        auto rows = std::move(reuse->rows);
        auto gone = std::move(reuse->gone);
        auto intervals = std::move(reuse->intervals);
        auto order = std::move(reuse->view_order);
        intervals.clear();
        order.clear();
        *reuse = Frame{};
        reuse->rows = std::move(rows);
        reuse->gone = std::move(gone);
        reuse->intervals = std::move(intervals);
        reuse->view_order = std::move(order);
        frame = std::move(reuse);
    } else {
        frame = std::make_shared<Frame>();
    }
    const auto linger_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(in.closed_linger).count());
    // With room to grow: a table that grows by a few sockets a poll would otherwise be moved
    // to new, untouched memory every poll (page faults on every row).
    if (frame->rows.capacity() < history.size()) frame->rows.reserve(history.size() + history.size() / 4);
    std::size_t n_rows = 0, n_gone = 0;
    const auto next_row = [](std::vector<Row>& v, std::size_t& n) -> Row& {
        if (n == v.size()) {
            ++n;
            return v.emplace_back();
        }
        Row& r = v[n++];
        // What the row builder below does not always write.
        r.peer = -1;
        r.pid = 0;
        r.more_owners = 0;
        r.process.clear();
        r.user.clear();
        return r;
    };
    // Entry id -> row index, for linking the two ends of a connection: ids are handed out in
    // order, so a vector over the ids in the table is a table without hashing.
    std::uint64_t min_id = UINT64_MAX, max_id = 0;
    std::vector<const HistoryEntry*> table_entries;
    table_entries.reserve(history.size());

    history.for_each([&](const HistoryEntry& e) {
        const bool in_table = e.open() || e.closed_ns + linger_ns >= in.now_ns;
        Row& r = in_table ? next_row(frame->rows, n_rows) : next_row(frame->gone, n_gone);
        r.rec = e.record;
        r.entry_id = e.id;
        r.added_ns = e.added_ns;
        r.changed_ns = e.changed_ns;
        r.closed_ns = e.closed_ns;
        r.state_since_ns = e.state_since_ns;
        r.traced = e.skaddr != 0;
        r.life_begin = static_cast<std::uint32_t>(frame->intervals.size());
        r.life_count = static_cast<std::uint32_t>(e.lifeline.size());
        frame->intervals.insert(frame->intervals.end(), e.lifeline.begin(), e.lifeline.end());
        r.local_text = endpoint_text(e.record.local_addr, e.record.local_port);
        r.remote_text = endpoint_text(e.record.remote_addr, e.record.remote_port);
        if (in.owners && e.record.inode != 0) {
            auto owners = in.owners(e.record.inode);
            if (!owners.empty()) {
                r.pid = owners.front().pid;
                r.process = owners.front().command;
                r.user = owners.front().user;
                r.more_owners = static_cast<std::uint32_t>(owners.size() - 1);
            }
        }
        if (r.user.empty() && e.polled)
            r.user = in.users ? in.users(e.record.uid) : std::to_string(e.record.uid);
        if (e.open()) {
            if (e.record.proto == Proto::tcp) {
                if (e.record.state < kStateSlots) ++frame->tcp_counts[e.record.state];
            } else {
                ++frame->udp_count;
            }
        }
        if (in_table) {
            table_entries.push_back(&e);
            min_id = std::min(min_id, e.id);
            max_id = std::max(max_id, e.id);
        }
    });
    frame->rows.erase(frame->rows.begin() + static_cast<std::ptrdiff_t>(n_rows), frame->rows.end());
    frame->gone.erase(frame->gone.begin() + static_cast<std::ptrdiff_t>(n_gone), frame->gone.end());
    if (table_entries.empty()) return frame;
    // Both ends of a loopback connection are rows of the same table: link them.
    const std::size_t n = table_entries.size();
    const auto link = [&](auto&& row_of_id) {
        for (std::size_t i = 0; i < n; ++i) {
            const HistoryEntry* p = history.peer_of(*table_entries[i]);
            if (p == nullptr || p->id < min_id || p->id > max_id) continue;
            frame->rows[i].peer = row_of_id(p->id);
        }
    };
    if (max_id - min_id < 4 * static_cast<std::uint64_t>(n)) {
        std::vector<std::int32_t> row_of(max_id - min_id + 1, -1);
        for (std::size_t i = 0; i < n; ++i) row_of[table_entries[i]->id - min_id] = static_cast<std::int32_t>(i);
        link([&](std::uint64_t id) { return row_of[id - min_id]; });
    } else {
        // Ids spread far apart (a long run with churn): sorted pairs instead.
        std::vector<std::pair<std::uint64_t, std::int32_t>> row_of(n);
        for (std::size_t i = 0; i < n; ++i) row_of[i] = {table_entries[i]->id, static_cast<std::int32_t>(i)};
        std::sort(row_of.begin(), row_of.end());
        link([&](std::uint64_t id) {
            const auto it = std::lower_bound(row_of.begin(), row_of.end(), std::pair<std::uint64_t, std::int32_t>{id, INT32_MIN});
            return it != row_of.end() && it->first == id ? it->second : -1;
        });
    }
    return frame;
}

}  // namespace socklab::viewer
