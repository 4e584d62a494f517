#include "lab_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "socklab/error.hpp"
#include "testsupport.hpp"

namespace socklab::test {

using Clock = std::chrono::steady_clock;

Child::Child(const std::vector<std::string>& argv) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
        throw sys_error("create pipes", errno);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw sys_error("fork", errno);
    if (pid_ == 0) {
        ::setpgid(0, 0);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_fd_ = out[0];
    err_fd_ = err[0];
    ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill the test
}

Child::~Child() {
    if (!reaped_ && pid_ > 0) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_fd_, err_fd_})
        if (fd >= 0) ::close(fd);
}

void Child::write(std::string_view text) {
    std::size_t off = 0;
    while (in_ >= 0 && off < text.size()) {
        const ssize_t n = ::write(in_, text.data() + off, text.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
}

void Child::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void Child::signal(int sig) {
    if (!reaped_) ::kill(pid_, sig);
}

bool Child::pump(std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (out_fd_ < 0 && err_fd_ < 0) return false;
    const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (n <= 0) return true;
    char buf[8192];
    for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
            (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(got));
        } else {
            ::close(fds[i].fd);
            (i == 0 ? out_fd_ : err_fd_) = -1;
        }
    }
    return true;
}

bool Child::read_until(const std::function<bool(const std::string&)>& pred,
                       std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!pred(out_)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || out_fd_ < 0) return pred(out_);
        if (!pump(left)) return pred(out_);
    }
    return true;
}

std::optional<std::string> Child::next_line(std::chrono::milliseconds timeout) {
    if (!read_until([&](const std::string& o) { return o.find('\n', line_pos_) != std::string::npos; },
                    timeout))
        return std::nullopt;
    const auto nl = out_.find('\n', line_pos_);
    std::string line = out_.substr(line_pos_, nl - line_pos_);
    line_pos_ = nl + 1;
    return line;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        // Keep draining the pipes so a chatty child never blocks on a full one.
        (void)pump(std::chrono::milliseconds(5));
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) break;
        if (Clock::now() >= deadline) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            reaped_ = true;
            return std::nullopt;
        }
    }
    reaped_ = true;
    while (out_fd_ >= 0 || err_fd_ >= 0)
        if (!pump(std::chrono::milliseconds(200))) break;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return std::nullopt;
}

namespace {
std::uint16_t port_of(const std::string& endpoint) {
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos || endpoint.substr(colon + 1) == "*") return 0;
    return static_cast<std::uint16_t>(std::stoul(endpoint.substr(colon + 1)));
}
std::string state_from_ss(const std::string& s) {
    if (s == "ESTAB") return "ESTABLISHED";
    if (s == "FIN-WAIT-1") return "FIN_WAIT1";
    if (s == "FIN-WAIT-2") return "FIN_WAIT2";
    std::string out = s;
    for (auto& c : out)
        if (c == '-') c = '_';
    return out;
}
}  // namespace

std::vector<SsRow> ss_rows() {
    const auto res = run_command({"ss", "-tuanpH"}, {}, std::chrono::seconds(10));
    if (res.exit_code != 0) throw Error("failed to run ss -tuanpH: " + res.err);
    std::vector<SsRow> rows;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        SsRow r;
        std::string state, local, peer;
        if (!(f >> r.proto >> state >> r.recv_q >> r.send_q >> local >> peer)) continue;
        r.state = state_from_ss(state);
        r.local_port = port_of(local);
        r.remote_port = port_of(peer);
        r.owned = line.find("users:(") != std::string::npos;
        r.line = line;
        rows.push_back(r);
    }
    return rows;
}

}  // namespace socklab::test
