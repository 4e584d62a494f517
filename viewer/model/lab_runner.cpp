#include "lab_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "socklab/catalog.hpp"
#include "socklab/fd.hpp"
#include "socklab/i18n.hpp"

extern char** environ;

namespace socklab::viewer {
namespace {

constexpr std::size_t kMaxLog = 200;
constexpr std::size_t kMaxLine = 1 << 20;  // a protocol line longer than this is garbage

// `msgid` holds one "{}" for the system's reason.
std::string errno_text(const char* msgid, int err) {
    return i18n::format(_(msgid), std::strerror(err));
}

// The catalogue as the protocol's LabInfo, what the panel lists.
std::vector<LabInfo> catalogue() {
    std::vector<LabInfo> labs;
    labs.reserve(lab::kLabs.size());
    for (const auto& e : lab::kLabs)
        labs.push_back({std::string(e.id), e.number, std::string(e.title), std::string(e.summary),
                        lab::default_port(e.number)});
    return labs;
}

}  // namespace

LabRunner::LabRunner(std::vector<std::string> command)
    : command_(std::move(command)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    state_.labs = catalogue();
    worker_ = std::thread([this] { run(); });
}

LabRunner::~LabRunner() {
    post({Cmd::quit, {}, 0});
    if (worker_.joinable()) worker_.join();
}

void LabRunner::post(Command c) {
    {
        std::lock_guard lk(mu_);
        queue_.push_back(std::move(c));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void LabRunner::start(const std::string& id, std::uint16_t port, bool predict) {
    post({Cmd::start, id, port, predict});
}
void LabRunner::next() { post({Cmd::next, {}, 0}); }
void LabRunner::answer(int choice) { post({Cmd::answer, {}, 0, false, choice}); }
void LabRunner::run_auto() { post({Cmd::auto_mode, {}, 0}); }
void LabRunner::stop() { post({Cmd::stop, {}, 0}); }

void LabRunner::advance(int k, std::vector<int> picks) {
    std::string reply;
    update([&](LabState& s) {
        advance_budget_ += k;
        advance_picks_.insert(advance_picks_.end(), picks.begin(), picks.end());
        // A prompt that came before the budget is answered now, and counts as one of the k;
        // later prompts are answered as they arrive. A prompt is answered once: whoever
        // answers it clears waiting_for under the lock.
        if (s.waiting_for != 0 && advance_budget_ > 0) reply = advance_reply(s);
    });
    if (reply == "next") post({Cmd::next, {}, 0});
    else if (!reply.empty()) post({Cmd::answer, {}, 0, false, std::stoi(reply)});
}

std::string LabRunner::advance_reply(LabState& s) {
    --advance_budget_;
    std::string reply = "next";
    if (s.asking() && !advance_picks_.empty()) {
        reply = std::to_string(advance_picks_.front());
        s.question->sent = advance_picks_.front();
        advance_picks_.pop_front();
    }
    s.waiting_for = 0;
    return reply;
}

LabState LabRunner::state() const {
    std::lock_guard lk(mu_);
    return state_;
}

std::uint64_t LabRunner::version() const {
    std::lock_guard lk(mu_);
    return state_.version;
}

bool LabRunner::wait_until(const std::function<bool(const LabState&)>& pred,
                           std::chrono::milliseconds timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return pred(state_); });
}

template <typename F>
void LabRunner::update(F&& fn) {
    {
        std::lock_guard lk(mu_);
        fn(state_);
        ++state_.version;
        while (state_.log.size() > kMaxLog) state_.log.erase(state_.log.begin());
    }
    cv_.notify_all();
}

void LabRunner::run() {
    Child child;
    for (;;) {
        std::deque<Command> cmds;
        {
            std::lock_guard lk(mu_);
            cmds.swap(queue_);
        }
        for (const auto& c : cmds) {
            if (c.cmd == Cmd::quit) {
                end_child(child, true);
                return;
            }
            handle(c, child);
        }
        // poll() skips negative descriptors, so an absent child costs nothing here.
        pollfd pfds[3] = {{wake_.get(), POLLIN, 0}, {child.out, POLLIN, 0}, {child.err, POLLIN, 0}};
        const int n = ::poll(pfds, 3, 200);
        if (n > 0 && (pfds[0].revents & POLLIN)) {
            std::uint64_t v;
            [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof v);
        }
        if (child.err >= 0 && n > 0 && pfds[2].revents != 0) read_errors(child);
        if (child.out >= 0 && n > 0 && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            read_output(child);
        if (child.pid > 0 && child.out < 0) {
            // Output closed: the lab is ending. Reap it (bounded) or stop it.
            end_child(child, false);
        }
    }
}

void LabRunner::handle(const Command& c, Child& child) {
    switch (c.cmd) {
        case Cmd::start:
            end_child(child, true);
            spawn(child, c);
            break;
        case Cmd::next:
            if (child.pid > 0) {
                send_line(child, "next");
                update([](LabState& s) { s.waiting_for = 0; });
            }
            break;
        case Cmd::answer:
            if (child.pid > 0) {
                // The lab reads a choice's number as the pick and the go-ahead for the step.
                send_line(child, std::to_string(c.choice));
                update([&](LabState& s) {
                    if (s.question) s.question->sent = c.choice;
                    s.waiting_for = 0;
                });
            }
            break;
        case Cmd::auto_mode:
            if (child.pid > 0) {
                send_line(child, "auto");
                update([](LabState& s) {
                    s.auto_mode = true;
                    s.waiting_for = 0;
                });
            }
            break;
        case Cmd::stop: end_child(child, true); break;
        case Cmd::quit: break;
    }
}

void LabRunner::spawn(Child& child, const Command& c) {
    const std::string& id = c.id;
    const std::uint16_t port = c.port;
    int sv[2];
    int out[2];
    int err[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        const int e = errno;
        update([&](LabState& s) { s.error = errno_text(N_("failed to create the lab's control socket: {}"), e); });
        return;
    }
    if (::pipe2(out, O_CLOEXEC) != 0) {
        const int e = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        update([&](LabState& s) { s.error = errno_text(N_("failed to create the lab's output pipe: {}"), e); });
        return;
    }
    if (::pipe2(err, O_CLOEXEC | O_NONBLOCK) != 0) {
        const int e = errno;
        for (int fd : {sv[0], sv[1], out[0], out[1]}) ::close(fd);
        update([&](LabState& s) { s.error = errno_text(N_("failed to create the lab's error pipe: {}"), e); });
        return;
    }
    auto argv = command_;
    // The lab speaks the viewer's language at the moment it starts (its texts reach the panel).
    argv.insert(argv.end(), {"lab", "run", id, "--json", "--lang", std::string(i18n::language())});
    if (port != 0) argv.insert(argv.end(), {"--port", std::to_string(port)});
    if (c.predict) argv.emplace_back("--predict");
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group: Stop signals the lab and anything it started, and a Ctrl-C in
    // the viewer's terminal does not hit the lab behind its back.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(sv[1]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(sv[0]);
        ::close(out[0]);
        ::close(err[0]);
        update([&](LabState& s) {
            s.error = i18n::format(_("failed to run {}: {} (is socklab built next to socklab-viewer?)"),
                                   argv[0], std::strerror(rc));
        });
        return;
    }
    child.pid = pid;
    child.in = sv[0];
    child.out = out[0];
    child.err = err[0];
    child.buffer.clear();
    child.err_buffer.clear();
    update([&](LabState& s) {
        s.running = true;
        s.pid = pid;
        s.lab_id = id;
        s.title.clear();
        s.steps = 0;
        s.port = port;
        s.step.reset();
        s.observed.reset();
        s.waiting_for = 0;
        s.auto_mode = false;
        s.predict = c.predict;
        s.question.reset();
        s.answered.reset();
        s.questions.reset();
        s.predicted.reset();
        s.done_ok.reset();
        s.exit_code.reset();
        s.error.clear();
        s.ports.clear();
        if (port != 0) s.ports.insert(port);
        s.log.push_back(c.predict ? i18n::format(_("started: socklab lab run {} --json --predict"), id)
                                  : i18n::format(_("started: socklab lab run {} --json"), id));
    });
}

void LabRunner::send_line(Child& child, std::string_view line) {
    if (child.in < 0) return;
    std::string msg(line);
    msg.push_back('\n');
    // MSG_NOSIGNAL: a lab that already exited gives EPIPE here, not a SIGPIPE that kills us.
    if (::send(child.in, msg.data(), msg.size(), MSG_NOSIGNAL) < 0) {
        const int err = errno;
        update([&](LabState& s) { s.log.push_back(errno_text(N_("failed to send to the lab: {}"), err)); });
    }
}

void LabRunner::read_output(Child& child) {
    char buf[8192];
    const ssize_t n = ::read(child.out, buf, sizeof buf);
    if (n <= 0) {
        if (n < 0 && errno == EINTR) return;
        ::close(child.out);
        child.out = -1;
        if (!child.buffer.empty()) on_line(child, std::exchange(child.buffer, {}));
        return;
    }
    child.buffer.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
        const auto nl = child.buffer.find('\n', start);
        if (nl == std::string::npos) break;
        on_line(child, std::string_view(child.buffer).substr(start, nl - start));
        start = nl + 1;
    }
    child.buffer.erase(0, start);
    if (child.buffer.size() > kMaxLine) {
        child.buffer.clear();
        update([](LabState& s) { s.log.push_back(_("the lab printed a line over 1 MiB; skipped")); });
    }
}

void LabRunner::read_errors(Child& child) {
    char buf[4096];
    const ssize_t n = ::read(child.err, buf, sizeof buf);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        ::close(child.err);
        child.err = -1;
        return;
    }
    child.err_buffer.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
        const auto nl = child.err_buffer.find('\n', start);
        if (nl == std::string::npos) break;
        const std::string line = child.err_buffer.substr(start, std::min<std::size_t>(nl - start, 300));
        update([&](LabState& s) {
            s.log.push_back("lab: " + line);
            s.last_stderr = line;
        });
        start = nl + 1;
    }
    child.err_buffer.erase(0, start);
    if (child.err_buffer.size() > 4096) child.err_buffer.clear();
}

void LabRunner::on_line(Child& child, std::string_view line) {
    if (line.empty()) return;
    auto parsed = parse_lab_line(line);
    if (!parsed) {
        update([&](LabState& s) {
            s.log.push_back(i18n::format(_("unreadable line from the lab ({}): {}"), parsed.error,
                                         std::string(line.substr(0, 200))));
        });
        return;
    }
    LabEvent& ev = *parsed.event;
    std::string reply;
    update([&](LabState& s) {
        auto add_ports = [&s](const std::vector<LabExpectation>& xs) {
            for (const auto& x : xs) {
                if (x.local_port != 0) s.ports.insert(x.local_port);
                if (x.remote_port != 0) s.ports.insert(x.remote_port);
            }
        };
        switch (ev.kind) {
            case LabEventKind::lab:
                s.title = ev.title;
                s.steps = ev.steps;
                if (ev.port != 0) {
                    s.port = ev.port;
                    s.ports.insert(ev.port);
                }
                break;
            case LabEventKind::step:
                add_ports(ev.expect);
                if (ev.steps != 0) s.steps = ev.steps;
                s.observed.reset();
                s.step = std::move(ev);
                break;
            case LabEventKind::waiting:
                s.waiting_for = ev.step;
                // Answered right below, never shown as waiting.
                if (advance_budget_ > 0) reply = advance_reply(s);
                break;
            case LabEventKind::observed:
                for (const auto& so : ev.sockets) {
                    if (so.local_port != 0 && s.ports.contains(so.remote_port)) s.ports.insert(so.local_port);
                }
                s.observed = std::move(ev);
                break;
            case LabEventKind::done:
                s.done_ok = ev.ok.value_or(false);
                s.waiting_for = 0;
                s.questions = ev.questions;
                s.predicted = ev.predicted;
                s.log.push_back(*s.done_ok ? _("done: every check passed") : _("done: a check failed"));
                break;
            case LabEventKind::note:
            case LabEventKind::message: s.log.push_back(ev.text); break;
            case LabEventKind::predict:
                if (ev.predict) s.question = LabQuestion{ev.step, std::move(*ev.predict), {}, {}};
                break;
            case LabEventKind::answer:
                // The verdict on the question of this step; an answer without its question
                // (a lab that skipped one) is kept with an empty question.
                if (!s.question || s.question->step != ev.step) s.question = LabQuestion{ev.step, {}, {}, {}};
                s.question->answer = ev.answer;
                s.answered = std::move(s.question);
                s.question.reset();
                break;
            case LabEventKind::other: break;
        }
    });
    if (!reply.empty()) send_line(child, reply);
}

void LabRunner::reap(Child& child, int status) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const bool stopping = child.stopping;
    child.stopping = false;
    // Anything the lab started in its group goes with it.
    if (::kill(-child.pid, 0) == 0) ::kill(-child.pid, SIGTERM);
    child.pid = -1;
    if (child.err >= 0) read_errors(child);  // its last words, if any are left
    for (int* fd : {&child.in, &child.out, &child.err}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
    update([&](LabState& s) {
        s.running = false;
        s.waiting_for = 0;
        s.exit_code = code;
        if (!stopping && code != 0 && !s.done_ok && s.error.empty())
            s.error = s.last_stderr.empty()
                          ? i18n::format(_("the lab stopped with status {}"), code)
                          : i18n::format(_("the lab stopped with status {}: {}"), code, s.last_stderr);
        s.log.push_back(i18n::format(_("the lab exited with status {}"), code));
    });
}

void LabRunner::end_child(Child& child, bool ask_first) {
    if (child.pid <= 0) return;
    using namespace std::chrono_literals;
    auto wait_exit = [&](std::chrono::milliseconds limit) -> bool {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int status = 0;
        for (;;) {
            // Keep reading so a lab blocked on a full pipe can finish writing and exit.
            if (child.out >= 0) {
                pollfd pfd{child.out, POLLIN, 0};
                if (::poll(&pfd, 1, 10) > 0) read_output(child);
            } else {
                ::usleep(10'000);  // bounded poll of waitpid below, not synchronisation
            }
            const pid_t r = ::waitpid(child.pid, &status, WNOHANG);
            if (r == child.pid) {
                reap(child, status);
                return true;
            }
            if (std::chrono::steady_clock::now() >= deadline) return false;
        }
    };
    if (ask_first) {
        child.stopping = true;
        send_line(child, "quit");
        if (child.in >= 0) ::shutdown(child.in, SHUT_WR);  // EOF also means quit
        if (wait_exit(1500ms)) return;
    } else if (wait_exit(500ms)) {
        return;
    }
    ::kill(-child.pid, SIGTERM);
    if (wait_exit(1000ms)) return;
    ::kill(-child.pid, SIGKILL);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    reap(child, status);
}

}  // namespace socklab::viewer
