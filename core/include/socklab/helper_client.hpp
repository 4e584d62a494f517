#pragma once
// The front ends' side of socklab-helper: start it as a child with a socketpair, ask, reap.
// An unprivileged member of group `socklab` gets through it what root gets directly: the
// tracer, owners of every process, SOCK_DESTROY and signals to other users' processes.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/fd.hpp"
#include "socklab/helper_protocol.hpp"
#include "socklab/record.hpp"
#include "socklab/tracer.hpp"

namespace socklab {

// Where socklab-helper is: $SOCKLAB_HELPER when set; else beside the running program; else
// <dir>/../libexec/socklab/socklab-helper or <dir>/../lib/socklab/socklab-helper, <dir> being
// the running program's folder. nullopt when none of them is an executable file.
[[nodiscard]] std::optional<std::filesystem::path> find_helper();

// Which way privileged work is done, for --help and status lines.
enum class PrivilegePath : std::uint8_t { root, helper, unprivileged };
// root if euid 0; helper if the caller is in group socklab and the helper is found;
// unprivileged otherwise.
[[nodiscard]] PrivilegePath privilege_path();
[[nodiscard]] bool in_group_socklab();
// "root", "socklab-helper (<path>)", "unprivileged (...what enables more...)"
[[nodiscard]] std::string privilege_path_text();

class HelperClient {
public:
    // Start `helper` as a child, its end of a socketpair on fd 3. Throws socklab::Error when
    // it cannot be started.
    explicit HelperClient(const std::filesystem::path& helper);
    ~HelperClient();  // closes the channel, waits for the helper (SIGKILL after 2 s)
    HelperClient(const HelperClient&) = delete;
    HelperClient& operator=(const HelperClient&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    struct Answer {
        bool ok = false;
        helper::ErrorCode code = helper::ErrorCode::failed;
        std::string message;
        std::uint64_t count = 0;
    };

    // ---- requests (one at a time; a trace holds the channel until stop_trace) ----
    Answer destroy(const SocketRecord& s);
    Answer signal(int pid, std::uint64_t start_ticks, int sig);
    std::vector<helper::OwnerEntry> owners(std::span<const std::uint64_t> inodes, Answer& answer);
    Answer start_trace(std::optional<std::uint16_t> port);
    // With system calls (req.syscalls): the answer's count is 1 when they are traced, else 0
    // and its message says why not (transitions are traced either way).
    Answer start_trace(const helper::TraceRequest& req);
    // Events of the running trace, waiting at most `timeout` for the first. Throws Error when
    // the trace ended (the helper's message says why). System calls go to `calls` (dropped
    // when it is null).
    std::size_t poll_events(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout,
                            std::vector<SyscallEvent>* calls = nullptr);
    // Stop the trace; the answer's count is the events the kernel lost. Events still on the
    // way are appended to `tail`, system calls to `calls_tail` (dropped when it is null).
    Answer stop_trace(std::vector<TransitionEvent>& tail,
                      std::vector<SyscallEvent>* calls_tail = nullptr);
    // The data calls of a trace that asked for them (TraceRequest::data_calls), per socket
    // inode, as the newest data_calls frame of each said (poll_events and stop_trace read them).
    [[nodiscard]] const std::unordered_map<std::uint64_t, DataCallCounts>& data_calls() const noexcept {
        return data_;
    }
    // Start a capture: the answer's count is the capture's DLT_* (pcap_datalink).
    Answer start_capture(const helper::CaptureRequest& req);
    // Batches of raw frames of the running capture, waiting at most `timeout` for the first.
    // Throws Error when the capture ended (the helper's message says why).
    std::size_t poll_packets(std::vector<helper::PacketBatch>& out, std::chrono::milliseconds timeout);
    // Stop the capture; the answer's count is the frames the kernel dropped. Batches still on
    // the way are appended to `tail` (dropped when it is null).
    Answer stop_capture(std::vector<helper::PacketBatch>* tail);

    // ---- raw access (tests: malformed frames, unknown verbs) ----
    void send_bytes(std::span<const std::byte> bytes);
    void send(const helper::Message& m);
    // The next frame; nullopt when the helper closed the channel. Throws Error on a bad frame
    // or when nothing whole arrives within `timeout`.
    std::optional<helper::Message> receive(std::chrono::milliseconds timeout);
    // Why the helper stopped, from its stderr (empty while it runs or when it said nothing).
    [[nodiscard]] std::string last_words();
    // Wait for the helper to exit (after the channel closed); its exit status, or -1 when
    // killed by a signal or still running after `timeout`.
    int wait_exit(std::chrono::milliseconds timeout);

private:
    Answer request(const helper::Message& m);
    // Frames of a running stream (trace or capture) handed to `take`, which says whether it
    // took one (an error frame or another verb ends the stream: Error with `what`).
    std::size_t poll_stream(const std::function<bool(helper::Message&)>& take,
                            std::chrono::milliseconds timeout, const char* what);
    Answer stop_stream(const std::function<bool(helper::Message&)>& take);
    Answer closed_answer();
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
    UniqueFd channel_;
    UniqueFd stderr_;  // the helper's stderr: its refusal before the channel is served
    UniqueFd pidfd_;
    std::vector<std::byte> buf_;
    std::unordered_map<std::uint64_t, DataCallCounts> data_;
};

// The tracer behind socklab-helper, with the Tracer's face: status(), poll(), lost_events().
// With opts.syscalls it streams the system calls too (pids and follow_children as the
// Tracer takes them), of the caller's own processes only: the helper leaves out every other
// user's (docs/privileges.md).
class HelperTracer {
public:
    HelperTracer(const std::filesystem::path& helper, TracerOptions opts);  // never throws
    ~HelperTracer();
    [[nodiscard]] const TracerStatus& status() const noexcept { return status_; }
    // The system calls' status: active when asked for and the helper traces them.
    [[nodiscard]] const TracerStatus& syscall_status() const noexcept { return calls_status_; }
    std::size_t poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout);
    std::size_t poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                     std::chrono::milliseconds timeout);
    // Stop the trace (events still on the way are appended to `tail`, calls to `calls_tail`
    // when given) and return the lost count; later calls return the same count.
    std::uint64_t finish(std::vector<TransitionEvent>& tail,
                         std::vector<SyscallEvent>* calls_tail = nullptr);
    // With opts.syscalls and opts.data_calls: the data calls of the caller's own processes
    // per socket inode, as Tracer::data_calls() (without the first reads' results).
    [[nodiscard]] const std::unordered_map<std::uint64_t, DataCallCounts>& data_calls() const noexcept;

private:
    std::unique_ptr<HelperClient> client_;
    TracerStatus status_;
    TracerStatus calls_status_;
    bool finished_ = false;
    std::uint64_t lost_ = 0;
};

// Traced transitions and system calls from wherever this process may have them: a Tracer
// here (root, or --no-trace: its status says so), or through socklab-helper for a member of
// group socklab (privilege_path() == helper; there the system calls are those of the
// member's own processes only). What `socklab trace`, the viewer's poller and the labs read.
class TransitionTracer {
public:
    explicit TransitionTracer(const TracerOptions& opts);  // never throws
    ~TransitionTracer();
    TransitionTracer(const TransitionTracer&) = delete;
    TransitionTracer& operator=(const TransitionTracer&) = delete;

    [[nodiscard]] const TracerStatus& status() const noexcept;
    // The system calls' status (TracerOptions::syscalls), here or through the helper.
    [[nodiscard]] const TracerStatus& syscall_status() const noexcept;
    [[nodiscard]] bool through_helper() const noexcept { return helper_ != nullptr; }
    std::size_t poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout);
    std::size_t poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                     std::chrono::milliseconds timeout);
    // Lost so far (through the helper: reported when the trace stops, 0 until then).
    [[nodiscard]] std::uint64_t lost_events() const;
    // The end of a trace: events still owed are appended to `tail` (system calls to
    // `calls_tail` when given); the kernel's lost count.
    std::uint64_t finish(std::vector<TransitionEvent>& tail,
                         std::vector<SyscallEvent>* calls_tail = nullptr);
    // Stop now. What could not be removed (this process's own instance), for the caller to
    // show; "" when all is well.
    [[nodiscard]] std::string stop();
    // The data calls counted per socket inode (TracerOptions::syscalls; through the helper
    // with TracerOptions::data_calls too).
    [[nodiscard]] const std::unordered_map<std::uint64_t, DataCallCounts>& data_calls() const noexcept;
    // The path to socklab-helper when the trace goes through it, else empty.
    [[nodiscard]] const std::filesystem::path& helper_path() const noexcept { return helper_path_; }

private:
    std::filesystem::path helper_path_;
    std::unique_ptr<Tracer> direct_;
    std::unique_ptr<HelperTracer> helper_;
};

}  // namespace socklab
