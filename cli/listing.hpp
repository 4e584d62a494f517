#pragma once
// Text helpers shared by `list` and `who`: ss-like columns whose headers line up with their
// rows, endpoints and process lists appended to one output buffer without temporaries.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "socklab/address.hpp"
#include "socklab/owners.hpp"
#include "socklab/record.hpp"

namespace socklab::cli {

// "127.0.0.1:8080", "[::1]:8080"; port 0 prints as "*" ("0.0.0.0:*"), as ss does.
void append_endpoint(std::string& out, const IpAddr& addr, std::uint16_t port);

// How many characters append_endpoint() writes for this endpoint, without writing them.
[[nodiscard]] std::size_t endpoint_width(const IpAddr& addr, std::uint16_t port);

// Decimal digits of v (1 for 0).
[[nodiscard]] std::size_t decimal_digits(std::uint32_t v);

// users:(("nginx",pid=12,fd=6),("nginx",pid=13,fd=6)) — ss's Process column.
void append_users(std::string& out, std::span<const ProcessRef> owners);

// Write the whole buffer to stdout. A closed pipe (`| head`) ends quietly; any other error
// throws socklab::Error.
void write_all(std::string_view text);

// Text for stdout built in one reused buffer and written out each time it passes kChunk
// bytes, so a 100k-row table never lives in memory whole (its first touches are page faults).
class ChunkedOutput {
public:
    static constexpr std::size_t kChunk = 64 * 1024;
    ChunkedOutput() { buf_.reserve(kChunk + 4096); }
    ~ChunkedOutput() = default;
    ChunkedOutput(const ChunkedOutput&) = delete;
    ChunkedOutput& operator=(const ChunkedOutput&) = delete;
    [[nodiscard]] std::string& text() { return buf_; }
    // Drop trailing spaces, end the line, write out a full chunk.
    void end_line();
    // Write out what is buffered (call once at the end; write_all's errors apply).
    void flush();

private:
    std::string buf_;
};

// Column widths for Netid State Recv-Q Send-Q Local Peer [Timer] [Process]: every column
// is as wide as its widest cell or header, left-aligned, one space apart, so a header
// starts exactly where its values start.
class TableWidths {
public:
    void note(const SocketRecord& r, std::size_t local_len, std::size_t peer_len,
              std::size_t timer_len);
    void header(std::string& out, bool timer, bool process) const;
    // One row without the Process column and without the newline; `timer` is the Timer
    // cell, empty when that column is not shown.
    void row(std::string& out, const SocketRecord& r, std::string_view timer) const;

private:
    std::size_t netid_ = 5, state_ = 5, recv_ = 6, send_ = 6, local_ = 18, peer_ = 17,
                timer_ = 5;
};

}  // namespace socklab::cli
