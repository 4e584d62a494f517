#pragma once
// Test helpers for the labs: a child process we talk to through pipes while it runs (a lab
// in step mode, a chat peer, nc), and `ss` read as an independent oracle.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::test {

class Child {
public:
    // fork + exec argv[0] (PATH searched) in the caller's network namespace.
    explicit Child(const std::vector<std::string>& argv);
    ~Child();  // kills and reaps a child that is still running
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
    // Exit code; nullopt if it did not exit in time (then it is killed) or died by a signal.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    [[nodiscard]] const std::string& out() const noexcept { return out_; }
    [[nodiscard]] const std::string& err() const noexcept { return err_; }

private:
    bool pump(std::chrono::milliseconds timeout);  // read what is there; false at EOF of both
    pid_t pid_ = -1;
    int in_ = -1, out_fd_ = -1, err_fd_ = -1;
    std::string out_, err_;
    std::size_t line_pos_ = 0;
    bool reaped_ = false;
};

// One socket as `ss -tuanpH` prints it, with the state in socklab's spelling (ESTABLISHED,
// FIN_WAIT2, UNCONN...).
struct SsRow {
    std::string proto;
    std::string state;
    std::uint32_t recv_q = 0;
    std::uint32_t send_q = 0;
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    bool owned = false;  // ss -p names a process holding it
    std::string line;
};
std::vector<SsRow> ss_rows();

}  // namespace socklab::test
