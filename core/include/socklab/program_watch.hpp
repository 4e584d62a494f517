#pragma once
// One watched run of the learner's program, shared by `socklab run` and the viewer: start the
// program with the tracers following its process tree, gather its system calls, the
// transitions of its sockets and polls of the table it holds, and turn them into the report
// (program::analyse) — at the end, or as it stands while the program still runs.
//
// One thread drives a Watch: step() until it returns false, then finish(). The viewer does
// so on a thread of its own and publishes what report_so_far() gives.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "socklab/capture.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/program.hpp"
#include "socklab/program_tree.hpp"
#include "socklab/source.hpp"
#include "socklab/tracer.hpp"

namespace socklab::program {

// The tracers of a run: the program's tree (its calls, followed in the kernel from its first
// fork) and, for `run`, every transition (the peer's FIN runs in another process). As root
// they are Tracers in this process; for a member of group socklab they run in socklab-helper
// (TransitionTracer picks, as for `socklab trace`), which sends the calls of the member's own
// processes only. Without either, both are null or inactive and `why_not` says why.
struct Tracers {
    std::unique_ptr<TransitionTracer> calls;
    std::unique_ptr<TransitionTracer> transitions;
    bool active = false;
    std::string why_not;
    // socklab-helper's path when the tracers run through it, else empty.
    std::filesystem::path helper;

    // Through socklab-helper: stop both traces and append what was still on its way (the
    // program's last calls, the transitions after them); a tracer here reads its buffers
    // until empty instead (Watch::drain), so this does nothing then. The data calls of
    // calls->data_calls() are complete afterwards.
    void finish(std::vector<SyscallEvent>& calls_tail, std::vector<TransitionEvent>& transitions_tail);

    // Stop both and remove their instances now; what could not be removed (with the command
    // that removes it), for the caller to show. Afterwards active is false.
    [[nodiscard]] std::vector<std::string> stop();
};
[[nodiscard]] Tracers start_tracers(pid_t pid, std::optional<std::uint16_t> port, bool want_transitions);

// The command as one line, its words joined by spaces ("python3 chat.py 9000").
[[nodiscard]] std::string command_text(const std::vector<std::string>& cmd);

// The port doctor's one-line verdict on `port`: the first finding that blocks a bind.
[[nodiscard]] std::string doctor_summary(std::uint16_t port);

struct WatchOptions {
    std::vector<std::string> command;
    std::optional<std::uint16_t> port;  // the port it binds, for the doctor's diagnosis
    SpawnOptions spawn;
};

// What a Watch reports as it reads the tracers (the live log of `socklab run`).
struct WatchSink {
    std::function<void(const SyscallEvent&)> call;
    std::function<void(const TransitionEvent&)> transition;
};

class Watch {
public:
    // Starts the program held at the door and the tracers on its pid; go() lets it run.
    // Throws socklab::Error when it cannot fork.
    Watch(WatchOptions opts, Source& source);
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // Let the program exec: 0, or the errno of a failed exec (ENOENT: no such command).
    int go();
    [[nodiscard]] bool traced() const noexcept { return tracers_.active; }
    // socklab-helper's path when the run is traced through it (a member of group socklab).
    [[nodiscard]] const std::filesystem::path& tracing_helper() const noexcept { return tracers_.helper; }
    // Why the run is not traced (empty when it is).
    [[nodiscard]] const std::string& why_not_traced() const noexcept { return tracers_.why_not; }
    // After finish(): stop the tracers; what could not be removed, for the caller to show.
    [[nodiscard]] std::vector<std::string> stop_tracing() { return tracers_.stop(); }
    [[nodiscard]] Spawned& program() noexcept { return prog_; }
    [[nodiscard]] const WatchOptions& options() const noexcept { return opts_; }

    // One round: read the tracers for up to `wait` (untraced: wait that long for the exit),
    // then poll the table. False once the program has ended (no poll then).
    bool step(std::chrono::milliseconds wait, const WatchSink& sink = {});
    // The program has ended or was stopped: read what its last moments left in the tracers'
    // buffers (bounded), then analyse. `input()` then holds everything seen.
    Report finish(const WatchSink& sink = {});
    // The report as things stand, the program still running (the viewer's live findings).
    [[nodiscard]] Report report_so_far() const;
    [[nodiscard]] const Input& input() const noexcept { return in_; }

    // The program's local ports, and its processes and threads, seen so far.
    [[nodiscard]] const std::set<std::uint16_t>& ports() const noexcept { return ports_; }
    [[nodiscard]] const std::set<std::int32_t>& tasks() const noexcept { return tasks_; }
    // The newest poll of the sockets it holds.
    [[nodiscard]] const std::optional<Observation>& latest() const noexcept { return latest_; }

private:
    bool drain(std::chrono::milliseconds wait, const WatchSink& sink);
    // What the tracers handed over: the calls from in_.calls[from] on, a batch of transitions
    // (kept when they are the program's), or both from a helper's tail.
    void took_calls(std::size_t from, const WatchSink& sink);
    void took_transitions(const std::vector<TransitionEvent>& batch, const WatchSink& sink);
    void take(std::vector<SyscallEvent>& calls, const std::vector<TransitionEvent>& transitions,
              const WatchSink& sink);
    void take_poll();
    // Payload of the connections on lo, for the framing hints (root only).
    void read_frames();
    // in_ completed with what the tracers counted and the diagnosis, at `end_ns`.
    [[nodiscard]] Input complete(std::uint64_t end_ns) const;

    WatchOptions opts_;
    Source& source_;
    Spawned prog_;
    Tracers tracers_;
    Input in_;
    std::set<std::uint16_t> ports_;
    std::set<std::int32_t> tasks_;
    std::optional<Observation> latest_;
    std::vector<TransitionEvent> batch_;
    // Traced runs capture the first bytes of each segment on lo (the payload the program
    // receives) so its reads can be laid over the stream. Keyed by (receiver's port, sender's
    // port); offsets from the sender's SYN.
    struct Flow {
        std::optional<std::uint32_t> isn;
        std::vector<StreamChunk> chunks;
        std::size_t bytes = 0;
    };
    std::unique_ptr<FrameCapture> capture_;
    std::map<std::pair<std::uint16_t, std::uint16_t>, Flow> flows_;
};

}  // namespace socklab::program
