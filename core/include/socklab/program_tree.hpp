#pragma once
// The running half of `socklab run` / `socklab check`: a program started under socklab's
// watch, its process tree, and polls of the sockets that tree holds.
//
// How the tree is followed, and why this way: the tracer follows it in the kernel
// (set_event_pid + options/event-fork: every task the program forks, thread or process, is
// traced from its first call, which no /proc walk can promise); the polls walk
// /proc/<pid>/task/<tid>/children from the program's pid, which needs no privilege and is
// what an unprivileged run has. A cgroup of its own would also hold the tree, but creating
// one needs write access to the cgroup hierarchy (root or delegation) and moves the program
// out of the user's session; the program stays where the user started it. The program's own
// pid is watched through a pidfd, so a recycled pid is never mistaken for it.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "socklab/fd.hpp"
#include "socklab/program.hpp"
#include "socklab/source.hpp"

namespace socklab::program {

struct SpawnOptions {
    bool own_process_group = false;  // check: a group of its own, to stop the whole tree
    bool quiet = false;              // check: stdin from /dev/null, stdout/stderr to /dev/null
    // The viewer: stdin from /dev/null, stdout and stderr to this descriptor (a log file the
    // caller opened); -1: the caller's own (the terminal). `quiet` wins.
    int output_fd = -1;
};

// A program started from argv, held at the door until go() so tracing can begin first.
class Spawned {
public:
    // Throws socklab::Error when it cannot fork; an exec failure is reported by go().
    Spawned(const std::vector<std::string>& argv, SpawnOptions opts = {});
    ~Spawned();  // kills what is left of the tree (SIGKILL) and reaps the program
    Spawned(const Spawned&) = delete;
    Spawned& operator=(const Spawned&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    // Let it exec. Returns the errno of a failed exec (ENOENT: no such command), 0 on success.
    int go();
    // The pidfd (readable when the program has exited), -1 when pidfd_open is unavailable.
    [[nodiscard]] int pidfd() const noexcept { return pidfd_.get(); }
    // Reap without blocking: true once the program has ended (then ending() says how).
    bool poll_exit();
    // Wait up to `timeout_ms` for the program to end.
    bool wait_exit(int timeout_ms);
    [[nodiscard]] const Ending& ending() const noexcept { return ending_; }
    // SIGTERM to the tree (the group when it has its own), then SIGKILL after `grace_ms`.
    void stop(int grace_ms);
    [[nodiscard]] bool running() const noexcept { return !reaped_; }

private:
    pid_t pid_ = -1;
    UniqueFd go_write_, exec_read_, pidfd_;
    bool own_group_ = false;
    bool reaped_ = false;
    Ending ending_;
};

// The program's pid and all its descendants now (from /proc/<pid>/task/*/children).
[[nodiscard]] std::vector<int> process_tree(int root);

// Whether the process has ended or is ending: gone, a zombie, or every one of its threads past
// the start of exit (PF_EXITING in /proc/<pid>/task/<tid>/stat, set before the kernel closes
// the descriptors). A poll that ran while this was true may have seen the kernel, not the
// program, close its sockets.
[[nodiscard]] bool ending(int pid);

// One poll: the TCP sockets the given processes hold, joined with the table.
[[nodiscard]] Observation observe(const std::vector<int>& pids, Source& source);

// The port the tree listens on (the first TCP LISTEN socket it holds), if any.
[[nodiscard]] std::optional<std::uint16_t> listening_port(const Observation& o);

}  // namespace socklab::program
