#pragma once
// Helpers shared by socklab's tests: real sockets on loopback, bounded waits (never blind
// sleeps), private network namespaces, and running commands such as `ss` as an oracle.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/fd.hpp"
#include "socklab/lab_protocol.hpp"
#include "socklab/record.hpp"
#include "socklab/source.hpp"

namespace socklab::test {

[[nodiscard]] bool is_root();

// Skip the current test, with the reason, unless running as root.
#define SOCKLAB_REQUIRE_ROOT()                                                          \
    do {                                                                                \
        if (!::socklab::test::is_root()) GTEST_SKIP() << "needs root (run the suite as root)"; \
    } while (0)

// Poll `pred` every `interval` until it is true or `timeout` passes. Returns the last result.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::chrono::milliseconds interval = std::chrono::milliseconds(2));

// Loopback sockets. Port 0 lets the kernel pick a free one; read it back with local_port().
// `addr` is "127.0.0.1", "::1", "0.0.0.0", "::" ...; all helpers throw socklab::Error on failure.
UniqueFd tcp_listen(const std::string& addr = "127.0.0.1", std::uint16_t port = 0,
                    int backlog = 16, bool reuseaddr = false);
UniqueFd tcp_connect(const std::string& addr, std::uint16_t port, bool nonblocking = false);
// accept() with a bounded wait (poll first).
UniqueFd tcp_accept(int listen_fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));
UniqueFd udp_bind(const std::string& addr = "127.0.0.1", std::uint16_t port = 0);

// A NETLINK_SOCK_DIAG socket on which one dump request (inet_diag_req_v2 for `family`,
// `protocol`, the `states` mask and the `ext` attributes) has been sent: the caller reads the
// kernel's raw answer. For tools that record or time the dump itself. Throws socklab::Error.
UniqueFd request_sock_diag_dump(std::uint8_t family, std::uint8_t protocol, std::uint32_t states,
                                std::uint8_t ext = 0);
[[nodiscard]] std::uint16_t local_port(int fd);
[[nodiscard]] std::uint16_t remote_port(int fd);

// One TIME_WAIT socket on the returned local port (this side, the server, closes first;
// the listener is closed again, so only TIME_WAIT is left). Checked through sock_diag.
std::uint16_t make_time_wait(bool reuseaddr);

// Records for one port (local or remote), from a fresh snapshot of `src`.
std::vector<SocketRecord> sockets_on_port(Source& src, std::uint16_t port);
// Wait until `src` shows a socket with this local port, remote port (0 = any) and state.
bool wait_for_state(Source& src, std::uint16_t local, std::uint16_t remote, std::uint8_t state,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A fresh directory /tmp/<prefix>-XXXXXX, removed with everything in it on destruction.
class TempDir {
public:
    explicit TempDir(std::string_view prefix = "socklab-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path path;
};

struct CommandResult {
    int exit_code = -1;  // -1 when killed by a signal or on timeout
    bool timed_out = false;
    std::string out;
    std::string err;
};
// Run argv[0] (searched in PATH) with optional stdin, collecting stdout/stderr; kill after
// `timeout`. Never throws for a non-zero exit.
CommandResult run_command(const std::vector<std::string>& argv, std::string_view input = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Whether `program` is installed (found in PATH), for tests that skip without it.
[[nodiscard]] bool have_program(const std::string& program);

// A private network namespace for the calling thread, with lo up, restored on destruction.
// Sources, sockets and child processes made inside see only this namespace. Needs root.
class PrivateNetns {
public:
    PrivateNetns();
    ~PrivateNetns();
    PrivateNetns(const PrivateNetns&) = delete;
    PrivateNetns& operator=(const PrivateNetns&) = delete;

private:
    UniqueFd original_;
};

// Path of an executable built by this project (socklab, lab programs, ...).
#ifdef SOCKLAB_BIN_DIR
inline std::string bin(std::string_view name) {
    return std::string(SOCKLAB_BIN_DIR) + "/" + std::string(name);
}
#endif

// One line a lab printed with --json, read by the protocol's own reader (what the viewer uses).
// A line the reader refuses fails the test that read it, and reads as an event of kind other.
[[nodiscard]] LabEvent read_lab_line(std::string_view line);

// Predict mode: the states one choice of a lab's question names, in order ("no X" for a
// socket that must be gone). A choice is " / "-separated parts ending in a state name.
[[nodiscard]] std::vector<std::string> states_in_choice(const std::string& choice);

}  // namespace socklab::test
