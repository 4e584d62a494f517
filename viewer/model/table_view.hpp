#pragma once
// What the socket table shows: the frame's rows filtered and sorted. Recomputed only when the
// frame, the filter or the sort order changes, so a 100k-row table costs nothing per UI frame
// in between. Pure model: no ImGui, testable on hand-made frames.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "frame.hpp"

namespace socklab::viewer {

enum class Column : std::uint8_t {
    proto, local, remote, state, age, timer, recv_q, send_q, pid, process, user, count_
};
inline constexpr std::size_t kColumnCount = static_cast<std::size_t>(Column::count_);

// The sockets of one program the viewer runs (`socklab-viewer -- CMD`): its processes and
// threads, the sockets it held (inodes) and the (local, remote) ports of its ends, so its
// TIME_WAIT remains (inode 0, no owner) still count as its own. The other end of a loopback
// connection belongs to the peer's process and is not the program's.
struct ProgramScope {
    std::set<std::int32_t> pids;
    std::set<std::uint64_t> inodes;
    std::set<std::pair<std::uint16_t, std::uint16_t>> ends;
    [[nodiscard]] bool matches(const Row& r) const;
};
using ProgramScopePtr = std::shared_ptr<const ProgramScope>;

// A filter box text, parsed. Words are ANDed; each word matches when any of its readings
// does: a port number (local or remote; also a pid), a state name ("time-wait", "LISTEN"),
// "tcp"/"udp", or text found in the addresses, the process or the user (case-insensitive).
struct ParsedFilter {
    struct Word {
        std::string lower;                  // for substring matching
        std::optional<std::uint32_t> number;  // a port or a pid
        std::optional<std::uint32_t> states;  // mask, when the word names a state
        std::optional<Proto> proto;
    };
    std::vector<Word> words;
    ProgramScopePtr scope;  // when set, only that program's sockets
};

[[nodiscard]] ParsedFilter parse_filter(std::string_view text);
[[nodiscard]] bool row_matches(const Row& r, const ParsedFilter& f);

struct SortSpec {
    Column column = Column::local;
    bool ascending = true;
    friend bool operator==(const SortSpec&, const SortSpec&) = default;
};

// Three-way comparison of two rows by one column (ties broken by the local endpoint).
[[nodiscard]] bool row_less(const Row& a, const Row& b, Column c, std::uint64_t now_ns);

// What the UI wants the table to show; posted to the poller, which sorts each new frame
// for it. `version` changes whenever the rest does.
struct ViewSpec {
    std::string filter;
    std::uint32_t state_mask = 0;
    SortSpec sort;
    ProgramScopePtr scope;
    std::uint64_t version = 0;
};

// Filter and sort `f`'s rows: indices into f.rows, and TCP counts per state under the text
// filter (not the mask). Used by TableView and by the poller thread.
void compute_view(const Frame& f, const ParsedFilter& filter, std::uint32_t state_mask,
                  SortSpec sort, std::uint64_t now_ns, std::vector<std::uint32_t>& order,
                  std::array<std::uint32_t, kStateSlots>& counts);

class TableView {
public:
    // Changes with every filter, mask or sort change (starts at 1).
    [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
    [[nodiscard]] ViewSpec spec() const { return {filter_text_, state_mask_, sort_, filter_.scope, version_}; }
    // Did the last update() take the poller's precomputed order (true) or sort itself?
    [[nodiscard]] bool adopted() const noexcept { return adopted_; }

    void set_filter_text(std::string text);
    [[nodiscard]] const std::string& filter_text() const noexcept { return filter_text_; }
    // Only these TCP states (clicked in the diagram); 0: all.
    void set_state_mask(std::uint32_t mask);
    [[nodiscard]] std::uint32_t state_mask() const noexcept { return state_mask_; }
    void set_sort(SortSpec s);
    // Only the sockets of the program the viewer runs; null: every socket.
    void set_scope(ProgramScopePtr scope);
    [[nodiscard]] const ProgramScopePtr& scope() const noexcept { return filter_.scope; }
    [[nodiscard]] SortSpec sort() const noexcept { return sort_; }

    // Recompute for `frame` if anything changed. `now_ns` ages rows (time in state) for
    // sorting. Returns true when recomputed.
    bool update(const FramePtr& frame, std::uint64_t now_ns);

    // Row indices into frame->rows, filtered and sorted.
    [[nodiscard]] const std::vector<std::uint32_t>& order() const noexcept { return order_; }
    // TCP sockets per state that pass the text filter (ignoring the state mask, so the
    // diagram still shows what clicking another state would give). Closed rows not counted.
    [[nodiscard]] const std::array<std::uint32_t, kStateSlots>& state_counts() const noexcept {
        return counts_;
    }
    [[nodiscard]] const FramePtr& frame() const noexcept { return frame_; }
    // Bumps on every recompute: views derived from order() know when to rebuild.
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
    [[nodiscard]] const ParsedFilter& filter() const noexcept { return filter_; }
    // Where row `row_index` of the frame sits in order(), if shown.
    [[nodiscard]] std::optional<std::size_t> position_of(std::uint32_t row_index) const;

private:
    std::string filter_text_;
    ParsedFilter filter_;
    std::uint32_t state_mask_ = 0;
    SortSpec sort_;
    bool dirty_ = true;
    bool adopted_ = false;
    std::uint64_t generation_ = 0;
    std::uint64_t version_ = 1;
    FramePtr frame_;
    std::vector<std::uint32_t> order_;
    std::vector<std::int32_t> position_;  // row index -> position in order_, -1 if hidden
    std::array<std::uint32_t, kStateSlots> counts_{};
};

}  // namespace socklab::viewer
