#pragma once
// `socklab-viewer -- CMD` and "Run a program…": the learner's program run the way `socklab
// run` runs it (program::Watch, shared with the CLI), on a thread of its own. The thread
// publishes an immutable ProgramState: which processes and sockets are the program's (the
// table's, timeline's and ladder's filter), the findings as they stand, the tail of the
// program's output and, once it has ended, the final report.
//
// The viewer has no terminal to give the program: its stdin is /dev/null and its stdout and
// stderr go to a log file (ProgramState::output_path, kept after the run), whose last lines
// the Program panel shows.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/table_view.hpp"
#include "socklab/program.hpp"
#include "socklab/source.hpp"

namespace socklab::viewer {

struct ProgramState {
    std::uint64_t version = 0;          // bumps with every publish
    std::vector<std::string> command;
    std::int32_t pid = 0;               // 0: not started
    bool running = false;
    bool finished = false;              // ended (or stopped) and analysed: `report` is final
    std::string error;                  // it could not be started: why
    std::string not_traced;             // why the run is not traced (empty: traced)
    ProgramScopePtr scope;              // its processes and sockets so far; null before start
    std::vector<std::uint16_t> ports;   // its local ports (the ladder's choice)
    program::Report report;             // live until finished, then the final one
    program::Ending ending;
    std::string output_path;            // where its stdout and stderr go
    std::string output_tail;            // the last lines of that file
};
using ProgramStatePtr = std::shared_ptr<const ProgramState>;

struct ProgramRunnerOptions {
    std::vector<std::string> command;
    std::optional<std::uint16_t> port;  // the port it binds, for the doctor's diagnosis
    // The table the program's sockets are looked up in (tests: the default source).
    std::function<std::unique_ptr<Source>()> make_source;
    std::chrono::milliseconds publish_every{500};
    std::size_t tail_bytes = 4096;
    // Each traced system call of the program's tree, as the watching thread reads it (the
    // Ladder's call markers). Called on that thread.
    std::function<void(const SyscallEvent&)> on_call;
};

class ProgramRunner {
public:
    // Starts the program and its watching thread.
    explicit ProgramRunner(ProgramRunnerOptions opts);
    ~ProgramRunner();  // stops the program (its process group) and the thread
    ProgramRunner(const ProgramRunner&) = delete;
    ProgramRunner& operator=(const ProgramRunner&) = delete;

    [[nodiscard]] ProgramStatePtr state() const;
    // SIGTERM to the program's process group, then SIGKILL after 2 s; the final report follows.
    void stop();
    // Wait until `pred(state)` holds, at most `timeout`. True when it does.
    bool wait_until(const std::function<bool(const ProgramState&)>& pred,
                    std::chrono::milliseconds timeout) const;

private:
    void run();
    void publish(ProgramState s);

    ProgramRunnerOptions opts_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    ProgramStatePtr state_;
    bool stop_ = false;
    std::uint64_t version_ = 0;
    std::thread thread_;
};

}  // namespace socklab::viewer
