#include "model/program_runner.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/i18n.hpp"
#include "socklab/program_watch.hpp"

namespace socklab::viewer {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The last `max` bytes of the file, from the first whole line on.
std::string tail_of(const std::string& path, std::size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size <= 0) return {};
    const off_t from = size > static_cast<off_t>(max) ? size - static_cast<off_t>(max) : 0;
    std::string out(static_cast<std::size_t>(size - from), '\0');
    const ssize_t n = ::pread(fd.get(), out.data(), out.size(), from);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (from > 0)
        if (const auto nl = out.find('\n'); nl != std::string::npos) out.erase(0, nl + 1);
    return out;
}

// Which rows are the program's: its tasks, the sockets it held and their ends.
ProgramScopePtr scope_of(const program::Watch& w, const program::Report& r) {
    auto s = std::make_shared<ProgramScope>();
    s->pids.insert(w.tasks().begin(), w.tasks().end());
    for (const auto& life : r.sockets) {
        if (life.inode != 0) s->inodes.insert(life.inode);
        if (life.key.local_port != 0) s->ends.insert({life.key.local_port, life.key.remote_port});
    }
    if (w.latest())
        for (const auto& h : w.latest()->sockets) {
            s->inodes.insert(h.record.inode);
            s->ends.insert({h.record.local_port, h.record.remote_port});
        }
    return s;
}

}  // namespace

ProgramRunner::ProgramRunner(ProgramRunnerOptions opts) : opts_(std::move(opts)) {
    auto first = std::make_shared<ProgramState>();
    first->command = opts_.command;
    state_ = std::move(first);
    thread_ = std::thread([this] { run(); });
}

ProgramRunner::~ProgramRunner() {
    stop();
    if (thread_.joinable()) thread_.join();
}

ProgramStatePtr ProgramRunner::state() const {
    std::lock_guard lk(mu_);
    return state_;
}

void ProgramRunner::stop() {
    std::lock_guard lk(mu_);
    stop_ = true;
}

bool ProgramRunner::wait_until(const std::function<bool(const ProgramState&)>& pred,
                               std::chrono::milliseconds timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return pred(*state_); });
}

void ProgramRunner::publish(ProgramState s) {
    {
        std::lock_guard lk(mu_);
        s.version = ++version_;
        state_ = std::make_shared<const ProgramState>(std::move(s));
    }
    cv_.notify_all();
}

void ProgramRunner::run() {
    ProgramState s;
    s.command = opts_.command;
    const auto fail = [&](std::string why) {
        s.error = std::move(why);
        s.finished = true;
        publish(s);
    };
    if (s.command.empty()) return fail(_("no program given: put it after --, e.g. -- python3 chat.py"));
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string path = (dir / "socklab-run-XXXXXX.log").string();
    UniqueFd log(::mkostemps(path.data(), 4, O_CLOEXEC));
    if (!log)
        return fail(i18n::format(_("failed to create the program's log file {}: {}"), path, std::strerror(errno)));
    s.output_path = path;
    std::unique_ptr<Source> source;
    std::optional<program::Watch> watch;
    try {
        source = opts_.make_source ? opts_.make_source() : make_default_source();
        program::SpawnOptions spawn;
        spawn.own_process_group = true;  // no terminal to send Ctrl-C: stop() ends the tree
        spawn.output_fd = log.get();
        watch.emplace(program::WatchOptions{opts_.command, opts_.port, spawn}, *source);
    } catch (const socklab::Error& e) {
        return fail(e.what());
    }
    log.reset();  // the program has its own copy
    s.pid = watch->program().pid();
    s.not_traced = watch->why_not_traced();
    if (const int err = watch->go(); err != 0)
        return fail(i18n::format(_("failed to start {}: {}"), opts_.command.front(), std::strerror(err)));
    s.running = true;
    s.scope = scope_of(*watch, s.report);
    publish(s);
    program::WatchSink sink;
    sink.call = opts_.on_call;
    auto next = Clock::now() + opts_.publish_every;
    bool stopped = false;
    while (true) {
        {
            std::lock_guard lk(mu_);
            stopped = stop_;
        }
        if (stopped || !watch->step(100ms, sink)) break;
        if (Clock::now() >= next) {
            s.report = watch->report_so_far();
            s.scope = scope_of(*watch, s.report);
            s.ports.assign(watch->ports().begin(), watch->ports().end());
            s.output_tail = tail_of(s.output_path, opts_.tail_bytes);
            publish(s);
            next = Clock::now() + opts_.publish_every;
        }
    }
    if (stopped) watch->program().stop(2000);
    s.report = watch->finish(sink);
    s.scope = scope_of(*watch, s.report);
    s.ports.assign(watch->ports().begin(), watch->ports().end());
    s.output_tail = tail_of(s.output_path, opts_.tail_bytes);
    s.ending = watch->program().ending();
    s.running = false;
    s.finished = true;
    publish(s);
}

}  // namespace socklab::viewer
