#include "frame_builder.hpp"

#include <unordered_map>

namespace socklab::viewer {

std::string endpoint_text(const IpAddr& addr, std::uint16_t port) {
    if (addr.is_any() || addr.family == 0) {
        return port == 0 ? std::string("*:*") : "*:" + std::to_string(port);
    }
    return format_endpoint(addr, port);
}

std::shared_ptr<Frame> build_frame(const History& history, const BuildInputs& in) {
    auto frame = std::make_shared<Frame>();
    const auto linger_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(in.closed_linger).count());
    frame->rows.reserve(history.size());
    std::unordered_map<std::uint64_t, std::int32_t> row_of;  // entry id -> row index
    row_of.reserve(history.size());
    std::vector<const HistoryEntry*> table_entries;
    table_entries.reserve(history.size());

    history.for_each([&](const HistoryEntry& e) {
        const bool in_table = e.open() || e.closed_ns + linger_ns >= in.now_ns;
        Row r;
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
            row_of.emplace(e.id, static_cast<std::int32_t>(frame->rows.size()));
            table_entries.push_back(&e);
            frame->rows.push_back(std::move(r));
        } else {
            frame->gone.push_back(std::move(r));
        }
    });
    // Both ends of a loopback connection are rows of the same table: link them.
    for (std::size_t i = 0; i < table_entries.size(); ++i) {
        const HistoryEntry* p = history.peer_of(*table_entries[i]);
        if (p == nullptr) continue;
        if (auto it = row_of.find(p->id); it != row_of.end()) frame->rows[i].peer = it->second;
    }
    return frame;
}

}  // namespace socklab::viewer
