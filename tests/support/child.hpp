#pragma once
// A child process a test talks to through pipes while it runs (a lab in step mode, a chat
// peer, nc, the population generator): write its stdin, read its stdout line by line with
// bounded waits, collect its stderr, and end it with the test, even on failure.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::test {

class Child {
public:
    // fork + exec argv[0] (PATH searched) in the caller's network namespace, in a process
    // group of its own. `term_grace` > 0: on destruction a child still running gets SIGTERM
    // first and that long to end by itself (to clean up what it made), then SIGKILL.
    explicit Child(const std::vector<std::string>& argv,
                   std::chrono::milliseconds term_grace = std::chrono::milliseconds(0));
    ~Child();  // ends (SIGKILL to its group) and reaps a child that is still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    void write(std::string_view text);
    void close_stdin();
    void signal(int sig);
    // Read until `pred(stdout so far)` holds; false if the time runs out or stdout ends first.
    bool read_until(const std::function<bool(const std::string&)>& pred,
                    std::chrono::milliseconds timeout);
    // The next complete stdout line (without '\n'); nullopt on timeout or end of output.
    std::optional<std::string> next_line(std::chrono::milliseconds timeout);
    // Exit code; nullopt if it did not exit in time (then it is killed, unless
    // `kill_on_timeout` is false: then it keeps running) or died by a signal.
    std::optional<int> wait(std::chrono::milliseconds timeout, bool kill_on_timeout = true);

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& out() const noexcept { return out_; }
    [[nodiscard]] const std::string& err() const noexcept { return err_; }

private:
    bool pump(std::chrono::milliseconds timeout);  // read what is there; false at EOF of both
    pid_t pid_ = -1;
    int in_ = -1, out_fd_ = -1, err_fd_ = -1;
    std::string out_, err_;
    std::size_t line_pos_ = 0;
    bool reaped_ = false;
    std::optional<int> exit_code_;  // once reaped: its exit code, nullopt for a signal
    std::chrono::milliseconds term_grace_;
};

}  // namespace socklab::test
