#pragma once
// Runs one lab as a child process in --json step mode and follows its protocol on a worker
// thread. The UI posts commands (start, next, auto, stop) and reads a copy of the state; it
// never blocks on the child. The child gets its own process group, so Stop ends the lab and
// everything it started.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "socklab/fd.hpp"
#include "socklab/lab_protocol.hpp"

namespace socklab::viewer {

// Predict mode: one question the lab asked before a step, and what became of it.
struct LabQuestion {
    int step = 0;
    LabPredict predict;               // the question and its numbered choices
    std::optional<int> sent;          // the choice this viewer sent (none: run without a pick)
    std::optional<LabAnswer> answer;  // the lab's verdict, once the step ran
};

struct LabState {
    std::uint64_t version = 0;  // bumps on every change
    std::vector<LabInfo> labs;  // the lab catalogue (socklab/catalog.hpp), in lesson order

    bool running = false;       // a child is alive
    int pid = 0;                // its pid, also its process group id
    std::string lab_id;
    std::string title;
    int steps = 0;
    std::uint16_t port = 0;
    std::optional<LabEvent> step;      // the current step
    std::optional<LabEvent> observed;  // its checks, once the lab looked at the table
    int waiting_for = 0;               // the step the lab waits to run; 0 = not waiting
    bool auto_mode = false;
    bool predict = false;              // started in predict mode (--predict)
    std::optional<LabQuestion> question;  // predict: the question asked, until its answer comes
    std::optional<LabQuestion> answered;  // predict: the last question with the lab's verdict
    std::optional<int> questions;      // predict, at "done": questions asked ...
    std::optional<int> predicted;      // ... and the picks that were right
    std::optional<bool> done_ok;       // set when the lab said "done"
    std::optional<int> exit_code;      // the child's exit status once it ended
    std::string error;                 // a protocol or process problem, one line
    std::vector<std::string> log;      // notes, messages and errors, newest last (bounded)
    std::string last_stderr;           // the lab's last line on stderr
    std::set<std::uint16_t> ports;     // the lab's sockets: highlight rows on these ports

    // Predict mode: the lab waits for a pick for `question` (the panel shows its choices).
    [[nodiscard]] bool asking() const noexcept {
        return question && waiting_for != 0 && waiting_for == question->step;
    }
    // Step `k` has run and the lab said all it will about it: its checks, and in predict mode
    // the verdict on the pick when the step had a question.
    [[nodiscard]] bool step_told(int k) const noexcept {
        if (!observed || observed->step < k) return false;
        if (observed->step > k) return true;
        return !question || question->step != k;
    }
};

class LabRunner {
public:
    // `command`: how to run socklab, e.g. {"/path/to/socklab"}; the runner appends
    // "lab run ID --json --lang LANG [--port N] [--predict]", LANG the viewer's language when
    // the lab starts. The list of labs comes from the catalogue this program was built with, so it
    // is there from the start.
    explicit LabRunner(std::vector<std::string> command);
    ~LabRunner();  // stops the lab (process group) and joins the worker
    LabRunner(const LabRunner&) = delete;
    LabRunner& operator=(const LabRunner&) = delete;

    // `predict`: the lab asks before each step that expects a state (LabState::question) and
    // waits for answer() (next() runs the step without a pick).
    void start(const std::string& id, std::uint16_t port = 0, bool predict = false);
    void next();
    // Predict mode: pick choice `choice` (from 1) for the question the lab waits on; the step
    // then runs and the lab's verdict arrives in LabState::answered.
    void answer(int choice);
    void run_auto();
    void stop();
    // Answer the next `k` "waiting" prompts with "next" (headless --lab-steps). In predict
    // mode a prompt that follows a question takes the next of `picks` instead, while any are
    // left.
    void advance(int k, std::vector<int> picks = {});

    [[nodiscard]] LabState state() const;
    [[nodiscard]] std::uint64_t version() const;
    // Wait (bounded) until `pred(state)` holds. For headless runs and tests.
    bool wait_until(const std::function<bool(const LabState&)>& pred,
                    std::chrono::milliseconds timeout) const;

private:
    enum class Cmd { start, next, answer, auto_mode, stop, quit };
    struct Command {
        Cmd cmd;
        std::string id;
        std::uint16_t port = 0;
        bool predict = false;
        int choice = 0;  // answer
    };
    struct Child {
        pid_t pid = -1;
        int in = -1;   // our end of its stdin (a socket pair, so a dead child cannot SIGPIPE us)
        int out = -1;  // its stdout: the protocol
        int err = -1;  // its stderr: shown in the log
        std::string buffer;
        std::string err_buffer;
        bool stopping = false;  // we asked it to end: its exit status is no error
    };

    void post(Command c);
    void run();
    void handle(const Command& c, Child& child);
    void spawn(Child& child, const Command& c);
    // The line that answers the prompt the lab waits on now (under the lock): the next
    // headless pick when the prompt follows a question, "next" otherwise.
    std::string advance_reply(LabState& s);
    void send_line(Child& child, std::string_view line);
    void read_output(Child& child);
    void read_errors(Child& child);
    void on_line(Child& child, std::string_view line);
    void end_child(Child& child, bool ask_first);
    void reap(Child& child, int status);
    template <typename F>
    void update(F&& fn);

    std::vector<std::string> command_;
    UniqueFd wake_;  // post() writes, the worker's poll() wakes up
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::deque<Command> queue_;
    LabState state_;
    int advance_budget_ = 0;
    std::deque<int> advance_picks_;
    std::thread worker_;
};

}  // namespace socklab::viewer
