#pragma once
// labkit: the step runner every lab program is written against.
//
// A step is one system call shown exactly as it runs, its result, why the kernel did what it
// did, and what the kernel's socket table must now show. After each step the runner takes a
// snapshot through core/ (so TIME_WAIT mini-sockets without a descriptor are seen too), waits
// a bounded time for every expectation, and prints ✓ or ✗ — or, with --json, the step
// protocol of docs/contracts.md, one object per line.
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socklab/catalog.hpp"
#include "socklab/fd.hpp"
#include "socklab/lab_protocol.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51  // linux/in.h, Linux >= 6.3
#endif

namespace socklab::lab {

enum class Role { both, server, client };

struct Options {
    bool auto_mode = false;
    int delay_ms = 0;
    bool json = false;
    std::uint16_t port = 0;
    Role role = Role::both;
    std::string host = "127.0.0.1";
    // --predict: ask what the table will show before each step with state expectations.
    bool predict = false;
    // --answers 1,3,2: the picks for those questions, in order (for --auto, transcripts, tests).
    std::vector<int> answers{};
};

// What the table must show after a step. remote_port 0 matches a socket with no peer
// (LISTEN, UNCONN). `absent` turns it round: no such socket may be left (e.g. no TIME_WAIT
// after an RST).
using Expect = socklab::LabExpectation;  // the protocol's own type (socklab/lab_protocol.hpp)

// The outcome of a step's call: the return value, or -1 and the errno it left.
struct Result {
    long value = 0;
    int err = 0;
    std::string detail;  // shown after the value: bytes read, option values, ...

    // Capture errno right away: anything the runner does next may overwrite it.
    [[nodiscard]] static Result of(long ret, std::string detail = {});
    [[nodiscard]] static Result note(std::string text);  // a step that makes no call
    [[nodiscard]] std::string text() const;               // "0", "-1 EADDRINUSE (Address ...)"
};

struct Step {
    std::string title{};
    std::string call{};     // the system call exactly as it runs: "bind(3, 127.0.0.1:9001)"
    std::string explain{};  // what the kernel just did, and why
    std::vector<Expect> expect{};
    int fails_with = 0;   // the errno this call is meant to fail with; 0: it must succeed
    std::chrono::milliseconds wait{3000};  // how long the table may take to show `expect`
    // A check on the call's outcome beyond its errno (TCP_INFO's state, the bytes read...):
    // returns what is wrong, or "" when the result is the one the lesson rests on.
    std::function<std::string(const Result&)> verify{};
    // Expectations that depend on what the call did (the port connect() picked).
    std::function<std::vector<Expect>()> expect_after{};
};

// An IPv4 or IPv6 socket address from the lab's --host and a port.
struct Endpoint {
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family = AF_INET;

    [[nodiscard]] static Endpoint parse(const std::string& host, std::uint16_t port);
    [[nodiscard]] const sockaddr* sa() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] std::string str() const;  // "127.0.0.1:9001", "[::1]:9001"
    [[nodiscard]] std::string family_name() const;  // "AF_INET" / "AF_INET6"
};

// Thrown to unwind a lab: `q`, Ctrl-C, EOF on the control input, or a step that went wrong.
// RAII closes every socket on the way out.
struct Stop {
    enum class Why { quit, interrupted, failed } why;
    std::string message;
};

class Lab {
public:
    // Parses the lab's command line: exits 0 for --help, 2 (one clear line) for bad usage.
    Lab(std::string_view id, int argc, char** argv);
    ~Lab();
    Lab(const Lab&) = delete;
    Lab& operator=(const Lab&) = delete;

    [[nodiscard]] const Options& options() const noexcept { return opts_; }
    [[nodiscard]] const LabEntry& entry() const noexcept { return *entry_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return opts_.port; }
    [[nodiscard]] bool server() const noexcept { return opts_.role != Role::client; }
    [[nodiscard]] bool client() const noexcept { return opts_.role != Role::server; }
    [[nodiscard]] Endpoint endpoint() const { return Endpoint::parse(opts_.host, opts_.port); }

    // Run the lesson. `steps` is how many steps this run will take (it may depend on the
    // role), so the viewer can show "step 3 of 7". Returns the exit code: 0 all expectations
    // met (or the student quit), 1 one failed, 130 interrupted.
    int run(int steps, const std::function<void(Lab&)>& lesson);

    // One step: wait for the go-ahead (step mode), run `call`, show its result, then check
    // the table. Returns the call's result. Throws Stop when the call's outcome is not the
    // one the lesson rests on, or when the student quits.
    Result step(const Step& s, const std::function<Result()>& call);

    // Also look at sockets on this port (a client's own port, a second server...).
    void watch(std::uint16_t port);
    // Say something between steps (terminal: a line; --json: {"event":"note"}).
    void note(const std::string& text);
    // A line of chat text received from the peer: raw bytes in the terminal,
    // {"event":"message"} with --json.
    void show_received(std::string_view bytes);
    void show_sent(std::string_view text);

    // True once Ctrl-C (SIGINT/SIGTERM) arrived; loops in a lab poll it.
    [[nodiscard]] static bool interrupted() noexcept;
    // A descriptor that becomes readable on Ctrl-C, to poll() beside a socket or stdin.
    [[nodiscard]] static int interrupt_fd() noexcept;
    // Read one line from stdin (without '\n'); nullopt on EOF or Ctrl-C. The control lines
    // and a chat's keyboard share this one reader, so no byte is lost between them.
    // `wake_fd` (optional) ends the wait early too.
    [[nodiscard]] std::optional<std::string> read_line(int wake_fd = -1);

private:
    struct Impl;
    Options opts_;
    const LabEntry* entry_ = nullptr;
    std::unique_ptr<Impl> impl_;
};

// The usual start of a connection lab, in one step: a listener on the lab's endpoint, a
// client connected to it, and the connection accepted. `before_listen` may set options on
// the listener (inherited by accepted sockets).
struct Connection {
    UniqueFd listener;
    UniqueFd client;
    UniqueFd server;  // the accepted socket
    std::uint16_t client_port = 0;
};
Connection connect_pair(Lab& lab, const std::function<void(int)>& before_listen = {});

// One more connection to an existing listener, as one step: connect() + accept(). The step
// expects the new server-side socket ESTABLISHED.
struct Pair {
    UniqueFd client;
    UniqueFd server;  // the accepted socket
    std::uint16_t client_port = 0;
};
Pair connect_again(Lab& lab, int listener_fd, std::string title, std::string explain);

// ---- what this kernel shows of a socket that is only bound ----

// Does the running kernel list bound-only sockets (BOUND_INACTIVE, Linux >= 6.9)? Asked once
// (socklab::kernel_lists_bound_sockets). SOCKLAB_BOUND_INACTIVE=0 in the environment makes the
// labs ask and expect as on an older kernel, so that path is tested here too.
[[nodiscard]] bool bound_sockets_listed();
// What the table must show of `count` (0: at least one) sockets only bound to `port`:
// BOUND_INACTIVE rows where the kernel lists them; elsewhere no LISTEN on the port.
[[nodiscard]] std::vector<Expect> expect_bound_only(std::uint16_t port, std::uint32_t count = 0);
// One sentence for an explanation: how this kernel shows a bound-only socket.
[[nodiscard]] std::string bound_only_text();
// Two lists of expectations as one.
[[nodiscard]] inline std::vector<Expect> concat(std::vector<Expect> a, const std::vector<Expect>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// ---- small wrappers: keep the happy path of a lab straight (UNP style) ----

// "-1 ECONNREFUSED" style name of an errno value: "ECONNREFUSED".
[[nodiscard]] std::string errno_name(int err);
// bind()/listen()/connect() text for the call field.
[[nodiscard]] std::string describe_socket_call(std::string_view fn, int fd, const Endpoint& ep);
// getsockname()/getpeername() port of a socket (0 when it has none).
[[nodiscard]] std::uint16_t local_port_of(int fd);
[[nodiscard]] std::uint16_t peer_port_of(int fd);
// setsockopt(fd, level, name, int value); throws Stop(failed) with the house message.
void set_int_option(int fd, int level, int name, int value, std::string_view what);
// send() 64 KiB chunks with MSG_DONTWAIT until EAGAIN (bounded: at most 256 MiB). Returns the
// bytes the kernel took, or -1 with errno set when send() fails otherwise.
long fill_until_eagain(int fd);
// fill_until_eagain() as a step's call: `taken` keeps the bytes the kernel took, and the result
// shows them ("... bytes accepted before EAGAIN").
Result fill_step(int fd, long& taken);
// What the table shows once a writer has filled both buffers of a connection that nobody
// reads: the reader's Recv-Q and then the writer's Send-Q hold bytes.
[[nodiscard]] std::vector<Expect> expect_filled(std::uint16_t reader_port, std::uint16_t writer_port,
                                                std::string reader_state = "ESTABLISHED",
                                                std::string writer_state = "ESTABLISHED");
// A sysctl's integer value from its /proc/sys file; `fallback` where the file cannot be read.
[[nodiscard]] int sysctl_int(const char* path, int fallback);
// net.ipv4.ip_local_port_range of this network namespace (the kernel's default if unreadable).
[[nodiscard]] std::pair<int, int> local_port_range();
// A port inside that range for a per-socket IP_LOCAL_PORT_RANGE (which the kernel clamps to
// it): about `below_top` under its top, offset by the lab's port so labs do not share it.
[[nodiscard]] std::uint16_t port_in_local_range(std::uint16_t lab_port, int below_top);
// The kernel's own view of one socket: TCP_INFO's state name.
[[nodiscard]] std::string tcp_info_state(int fd);
// Write all of `data`, looping over short writes: send() may take less than asked.
Result send_all(int fd, std::string_view data);
// Read what is there now (MSG_DONTWAIT loop) up to `max` bytes; text for the result.
Result recv_now(int fd, std::string& out, std::size_t max = 65536);

}  // namespace socklab::lab
