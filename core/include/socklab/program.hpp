#pragma once
// The learner's own program (`socklab run`, `socklab check`): what it did to its sockets and
// what is wrong with it. The pure half: recorded observations (polls of the socket table
// joined with the program's descriptors, traced transitions, traced system calls, data-call
// counts, how the program ended) go in; one life per socket and the findings come out. No
// kernel, no printing: the unit tests feed constructed and recorded sequences. The half that
// watches a running process tree is ProgramTree (program_tree.hpp). Contract: docs/contracts.md
// ("Your program").
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "socklab/event.hpp"
#include "socklab/record.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab::program {

enum class FindingKind : std::uint8_t {
    close_wait_leak,  // CLOSE_WAIT held N s after the peer closed, descriptor not closed
    recv_zero_loop,   // recv() returned 0 N times on one descriptor: end of stream ignored
    framing_hint,     // a line command was lost to split or merged reads (a hint)
    bind_in_use,      // bind() failed with EADDRINUSE
    rst_sent,         // the program's close() aborted a connection (RST)
    rst_received,     // the peer reset a connection of the program
    sigpipe,          // the program died of SIGPIPE (wrote to a closed connection)
    refused,          // connect() failed with ECONNREFUSED
    open_at_exit,     // sockets (a listener, connections) still open when the program ended
    fd_growth,        // the number of sockets held kept growing
};
inline constexpr std::size_t kFindingKinds = 10;
// "close_wait_leak", ... (the JSON "kind").
[[nodiscard]] std::string_view kind_name(FindingKind k) noexcept;

// One socket descriptor of the program seen in one poll.
struct HeldSocket {
    std::int32_t pid = 0;
    std::int32_t fd = -1;
    SocketRecord record;  // the table's row for the descriptor's inode
};

// One poll: the program's sockets in the table at `time_ns` (CLOCK_MONOTONIC).
struct Observation {
    std::uint64_t time_ns = 0;
    std::vector<HeldSocket> sockets;
};

// Data calls counted on one socket, with the descriptor and thread last seen using it.
struct DataOnSocket {
    std::uint64_t inode = 0;
    std::int32_t pid = 0, tid = 0, fd = -1;
    DataCallCounts counts;
};

// Framing: one receiving direction of one connection of the program, as its reads saw it.
// The bytes the peer sent come from captured segments (their payloads, placed by relative
// sequence number: offset 0 is the first byte after the SYN); the reads are the results of
// the program's first receives on that socket, in order.
struct StreamChunk {
    std::uint64_t offset = 0;  // rel_seq - 1 of the segment that carried it
    std::string bytes;
};
// The stream's bytes from offset 0 up to the first gap (a segment not captured, or cut by the
// snap length). Overlapping chunks (retransmissions) agree or the first one wins.
[[nodiscard]] std::string rebuild_stream(std::span<const StreamChunk> chunks);

struct ReceivedStream {
    std::int32_t pid = 0, tid = 0, fd = -1;
    SocketKey key;
    std::string bytes;                 // the stream's first bytes (rebuild_stream)
    std::vector<std::uint64_t> reads;  // the receives' results (0 ends the stream)
};

// "/qu" + "it\n" with bytes escaped (\n, \r, \t, \\, \", \xNN), each side at most `max`
// bytes (cut with "..."): the line around offset `at` of `bytes`.
[[nodiscard]] std::string split_excerpt(std::string_view bytes, std::size_t at,
                                        std::size_t max = 24);
// "/quit\n" + "hello\n", escaped and cut the same way: for a read that covered bytes
// [start, end) of the stream, its first line (up to the '\n' at `newline`) and the next one.
// Offsets that describe no such read give "" + "".
[[nodiscard]] std::string merged_excerpt(std::string_view bytes, std::size_t start,
                                         std::size_t end, std::size_t newline,
                                         std::size_t max = 24);

struct Ending {
    bool exited = false;      // the program ended by itself (false: still running at the end)
    int exit_code = 0;        // when it exited normally
    int signal = 0;           // when a signal ended it (SIGPIPE: 13)
    bool stopped_by_us = false;  // --duration, Ctrl-C, or a scenario's end
};

struct Input {
    std::vector<Observation> polls;            // in time order
    // The program's: on its ports, or made in one of its tasks (TransitionEvent::pid). In
    // time order.
    std::vector<TransitionEvent> transitions;
    std::vector<SyscallEvent> calls;           // of the program's process tree, in time order
    std::vector<DataOnSocket> data;
    std::int32_t root_pid = 0;
    // The program's processes and threads seen (tids); a transition made in one of them ran
    // in the program's own context (its close(), or its exit closing descriptors).
    std::vector<std::int32_t> tasks;
    std::uint64_t start_ns = 0, end_ns = 0;
    Ending ending;
    bool traced = false;  // transitions and calls were traced (root); false: polling only
    // bind() failures do not say which port (the address lives in the program's memory):
    // the port given with --port, when there is one, and the port doctor's summary there.
    std::optional<std::uint16_t> port_hint;
    std::string bind_diagnosis;
    // The program's received streams with their reads (needs the capture's payload bytes and
    // the traced receives); analyse() adds framing_hints() of them.
    std::vector<ReceivedStream> streams;
    bool streams_seen = false;  // the payload bytes were captured (else "missing" says so)
};

struct Thresholds {
    std::uint64_t close_wait_ns = 2'000'000'000;  // CLOSE_WAIT held at least this long
    std::uint64_t recv_zero_loop = 10;            // recv() == 0 this often on one socket
    std::size_t fd_growth = 16;                   // sockets held grew by at least this much
};

// One socket of the program from first sight to the end.
struct SocketLife {
    std::uint64_t inode = 0;
    std::int32_t pid = 0, fd = -1;
    SocketKey key;
    std::vector<std::uint8_t> states;  // each state seen, in order, no repeats
    std::uint64_t first_ns = 0, last_ns = 0;  // first and last poll or event that saw it
    std::optional<std::uint64_t> close_wait_ns;  // when it entered CLOSE_WAIT (event or poll)
    bool closed_by_program = false;  // a close() of it was traced, or a poll saw it go
    std::uint64_t closed_at_ns = 0;  // the traced close(), when there was one
    std::optional<std::uint8_t> held_state;  // its state in the last poll that saw it held
    bool open_at_end = false;        // the last poll before the end still saw it held
    DataCallCounts data;
};

struct Finding {
    FindingKind kind = FindingKind::open_at_exit;
    std::int32_t pid = 0;
    std::int32_t tid = 0;  // 0: unknown
    std::int32_t fd = -1;  // -1: unknown
    std::uint16_t local_port = 0, remote_port = 0;  // 0: unknown
    std::optional<double> seconds;
    std::optional<std::uint64_t> count;
    std::string evidence;  // one sentence for a person, with the kernel's evidence
};

struct Report {
    std::vector<SocketLife> sockets;
    std::vector<Finding> findings;
    std::vector<std::string> missing;  // what this run could not see (polling only, ...)
};

// Framing hints, up to two per stream. Split: a receive ended mid-line (its last byte not
// '\n') and the next receive continued that line. Merged: one receive returned a whole line
// and more bytes after it ("/quit\nhello\n"; a line that began in an earlier read is not
// whole). Either way a program that compares whole reads
// with a command ("/quit") misses it. Hints, not certainties: a peer without newlines looks
// split, and a careful program that splits lines reads merged ones too. Reads beyond the
// bytes known are not judged. count: how many reads ended mid-line / held more than a line.
[[nodiscard]] std::vector<Finding> framing_hints(std::span<const ReceivedStream> streams);

[[nodiscard]] Report analyse(const Input& in, const Thresholds& t = {});

// One line per socket life: "fd 4 (pid 123) 127.0.0.1:9000 <- 127.0.0.1:41022
// LISTEN→... closed" in the reader's language.
[[nodiscard]] std::string life_line(const SocketLife& life);

// {"kind","pid","fd","local_port","remote_port","seconds"?,"count"?,"evidence"} (+ "tid" when
// known).
[[nodiscard]] nlohmann::json to_json(const Finding& f);
[[nodiscard]] nlohmann::json to_json(const SocketLife& life);
// {"command":[...],"exit_code":N,"sockets":[...],"findings":[...]} (exit_code: the program's,
// 128 + signal when a signal ended it).
[[nodiscard]] nlohmann::json report_json(std::span<const std::string> command, int exit_code,
                                         const Report& r);

// ---- check: the scenarios of the grader -----------------------------------------------

// Scenario ids (docs/contracts.md), in the order they run.
inline constexpr std::string_view kServerScenarios[] = {
    "exchange",   "peer-closes-first", "half-close", "peer-reset",
    "two-clients", "quit-split",       "quit-merged", "restart-within-60s"};
inline constexpr std::string_view kClientScenarios[] = {"server-closes-first", "server-resets",
                                                        "server-silent"};
// The lab that teaches the fix for a scenario ("close-wait-leak", ...); empty for none.
[[nodiscard]] std::string_view lab_for(std::string_view scenario) noexcept;

// What a scripted peer saw in one scenario, and what the table and the tracer said.
struct ScenarioObservation {
    std::string id;
    bool server_started = true;       // the program listened in time
    bool line_delivered = false;      // the line sent came back to one of the peers
    bool peer_got_eof = false;        // the peer read end of stream (the program closed)
    bool peer_got_reset = false;      // the peer's read failed with ECONNRESET
    bool second_client_served = false;   // two-clients: the second one was answered
    bool second_client_refused = false;  // two-clients: ... or closed/reset cleanly
    bool program_alive = true;        // still running when the scenario ended
    int program_signal = 0;           // what killed it, if a signal did
    bool restarted_listening = false; // restart: the second start listened on the port
    std::optional<double> close_wait_s;  // the program's end of the connection in CLOSE_WAIT
    std::uint64_t recv_zero = 0;      // recv() == 0 on that connection (traced)
    bool bind_failed_in_use = false;  // restart: the second start's bind() failed EADDRINUSE
    std::string diagnosis;            // restart: the port doctor's summary when it failed
};

struct ScenarioResult {
    std::string id;
    bool ok = false;
    std::string evidence;
    std::string lab;
    std::vector<Finding> findings;  // the findings the failure amounts to
};

// Judge one scenario by what was observed (pure).
[[nodiscard]] ScenarioResult judge(const ScenarioObservation& o,
                                   const Thresholds& t = {});

// {"role","port","scenarios":[{"id","ok","evidence","lab"}],"passed","total"}
[[nodiscard]] nlohmann::json check_json(std::string_view role, std::uint16_t port,
                                        std::span<const ScenarioResult> results);

}  // namespace socklab::program
