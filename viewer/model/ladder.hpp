#pragma once
// The ladder (sequence) diagram of one connection, without ImGui: what the Ladder panel draws
// and --dump-state lists. layout_ladder() is a pure function of a Conversation: one row per
// segment (an arrow from the sender's lifeline to the other), per state change (a badge on the
// side whose socket changed) and per system call (a marker on the caller's side), top to
// bottom in time order. Quiet stretches longer than LadderOptions::gap_ns are not drawn to
// scale: they become one short row labelled with their length ("… 58.7 s …").
#include <cstdint>
#include <string>
#include <vector>

#include "socklab/conversation.hpp"

namespace socklab::viewer {

enum class LadderKind : std::uint8_t { arrow, badge, call, gap };
[[nodiscard]] std::string_view ladder_kind_name(LadderKind k) noexcept;  // "arrow", ...

struct LadderRow {
    LadderKind kind = LadderKind::arrow;
    float y = 0;       // top of the row, in row units (the panel scales them to pixels)
    float height = 1;  // in row units
    std::uint64_t time_ns = 0;
    double offset_s = 0;     // seconds since the conversation's first item
    Side side = Side::unknown;  // arrow: the sender; badge and call: whose socket
    std::string label;       // on the diagram: "SYN-ACK seq 0 ack 1", "FIN_WAIT1", "close(fd 3) = 0"
    std::string detail;      // on hover: the whole header, the state's meaning, the call's process
    std::string note;        // beside a badge: a short remark ("timewait socket takes over")
    std::uint8_t flags = 0;  // arrow: tcp_flag bits
    std::uint8_t state = 0;  // badge: the new state (kernel number)
    std::uint8_t old_state = 0;
    bool failed = false;     // call: returned -1
    std::int64_t item = -1;  // index into Conversation::items; -1 for a gap
};

struct LadderLayout {
    std::vector<LadderRow> rows;
    float height = 0;         // sum of the rows, in row units
    std::string client_head;  // "127.0.0.1:41000" + "\npython3 [4242]" when the process is known
    std::string server_head;
    std::size_t arrows = 0, badges = 0, calls = 0, gaps = 0;
};

struct LadderOptions {
    std::uint64_t gap_ns = 1'000'000'000;  // quieter than this: one labelled gap row
    // The present moment for a connection still open: a trailing quiet stretch up to it is a
    // gap too ("… 12.0 s, still open …"). 0: no trailing gap.
    std::uint64_t now_ns = 0;
    bool open = false;
    float arrow_height = 1.0f;
    float mark_height = 0.8f;  // badges and calls
    float gap_height = 0.9f;
};

[[nodiscard]] LadderLayout layout_ladder(const Conversation& c, const LadderOptions& opts = {});

// "SYN seq 0", "SYN-ACK seq 0 ack 1", "PSH-ACK seq 1 ack 1 len 5": flags, relative seq/ack
// (ack only with ACK), the payload length when there is one.
[[nodiscard]] std::string arrow_label(const Segment& s);
// Every header field and option, one per line, for the hover box.
[[nodiscard]] std::string header_text(const Segment& s);
// "close(fd 3) = 0", "connect(fd 3) = -1 ECONNREFUSED", "listen(fd 3, backlog 5) = 0".
[[nodiscard]] std::string call_label(const SyscallEvent& e);
// "… 58.7 s …" (seconds with one decimal; minutes past 120 s).
[[nodiscard]] std::string gap_label(std::uint64_t ns);
// "127.0.0.1:41000", "[::1]:9001".
[[nodiscard]] std::string endpoint_label(const Endpoint& e);

}  // namespace socklab::viewer
