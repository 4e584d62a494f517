#include "socklab/program_watch.hpp"

#include <cerrno>

#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/i18n.hpp"

namespace socklab::program {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Tracers::stop() {
    std::vector<std::string> left;
    for (Tracer* t : {calls.get(), transitions.get()}) {
        if (t == nullptr) continue;
        const bool ran = t->status().active;
        t->stop();
        if (ran && !t->status().message.empty()) left.push_back(t->status().message);
    }
    active = false;
    return left;
}

Tracers start_tracers(pid_t pid, std::optional<std::uint16_t> port, bool want_transitions) {
    Tracers t;
    TracerOptions o;
    o.syscalls = true;
    o.pids = {pid};
    o.follow_children = true;
    o.buffer_kb_per_cpu = 4096;
    try {
        t.calls = std::make_unique<Tracer>(o);
        if (want_transitions) {
            TracerOptions to;
            to.port = port;
            to.buffer_kb_per_cpu = 2048;
            t.transitions = std::make_unique<Tracer>(to);
        }
    } catch (const socklab::Error& e) {
        t.why_not = e.what();
        t.calls.reset();
        t.transitions.reset();
        return t;
    }
    t.active = t.calls->status().active && t.calls->syscall_status().active;
    if (!t.active)
        t.why_not = !t.calls->status().active ? t.calls->status().message
                                              : t.calls->syscall_status().message;
    return t;
}

std::string command_text(const std::vector<std::string>& cmd) {
    std::string out;
    for (const auto& a : cmd) out += (out.empty() ? "" : " ") + a;
    return out;
}

std::string doctor_summary(std::uint16_t port) {
    try {
        const auto d = diagnose(port);
        for (const auto& f : d.findings)
            if (f.blocks) return f.summary;
        if (!d.findings.empty()) return d.findings.front().summary;
        return d.bindable() ? _("the port is free now") : _("nothing on the port explains it");
    } catch (const socklab::Error& e) {
        return e.what();
    }
}

namespace {

bool same_sockets(const Observation& a, const Observation& b) {
    if (a.sockets.size() != b.sockets.size()) return false;
    for (std::size_t i = 0; i < a.sockets.size(); ++i)
        if (a.sockets[i].record.inode != b.sockets[i].record.inode ||
            a.sockets[i].record.state != b.sockets[i].record.state)
            return false;
    return true;
}

}  // namespace

Watch::Watch(WatchOptions opts, Source& source)
    : opts_(std::move(opts)),
      source_(source),
      prog_(opts_.command, opts_.spawn),
      tracers_(start_tracers(prog_.pid(), opts_.port, true)) {
    in_.root_pid = prog_.pid();
    in_.traced = tracers_.active;
    in_.port_hint = opts_.port;
    in_.start_ns = monotonic_ns();
    tasks_.insert(prog_.pid());
}

int Watch::go() { return prog_.go(); }

void Watch::take_poll() {
    auto o = observe(process_tree(prog_.pid()), source_);
    for (const auto& h : o.sockets) ports_.insert(h.record.local_port);
    for (const int pid : process_tree(prog_.pid())) tasks_.insert(pid);
    if (in_.polls.empty() || !same_sockets(in_.polls.back(), o)) in_.polls.push_back(o);
    latest_ = std::move(o);
}

// Returns whether anything arrived.
bool Watch::drain(std::chrono::milliseconds wait, const WatchSink& sink) {
    if (!tracers_.active) return false;
    auto& calls = in_.calls;
    const auto before = calls.size();
    std::vector<TransitionEvent> unused;
    bool any = tracers_.calls->poll(unused, calls, wait) > 0;
    for (auto i = before; i < calls.size(); ++i) {
        const auto& c = calls[i];
        if (c.key && c.key->local_port) ports_.insert(c.key->local_port);
        tasks_.insert(c.tid);
        tasks_.insert(c.pid);
        if (sink.call) sink.call(c);
    }
    batch_.clear();
    if (tracers_.transitions) any = tracers_.transitions->poll(batch_, 0ms) > 0 || any;
    for (const auto& e : batch_)
        if (ports_.count(e.local_port) || (e.pid != 0 && tasks_.count(e.pid))) {
            in_.transitions.push_back(e);
            if (sink.transition) sink.transition(e);
        }
    return any;
}

bool Watch::step(std::chrono::milliseconds wait, const WatchSink& sink) {
    if (prog_.poll_exit()) return false;
    drain(tracers_.active ? wait : 0ms, sink);
    if (!tracers_.active) prog_.wait_exit(static_cast<int>(wait.count()));
    if (prog_.poll_exit()) return false;
    take_poll();
    return true;
}

Input Watch::complete(std::uint64_t end_ns) const {
    Input in = in_;
    in.end_ns = end_ns;
    if (latest_ && (in.polls.empty() || in.polls.back().time_ns != latest_->time_ns))
        in.polls.push_back(*latest_);
    in.ending = prog_.ending();
    in.tasks.assign(tasks_.begin(), tasks_.end());
    if (tracers_.active)
        for (const auto& [inode, counts] : tracers_.calls->data_calls())
            in.data.push_back(DataOnSocket{inode, counts.pid, counts.tid, counts.fd, counts});
    return in;
}

Report Watch::report_so_far() const { return analyse(complete(monotonic_ns())); }

Report Watch::finish(const WatchSink& sink) {
    // The program is gone: read what its last moments left in the buffers (each read is
    // bounded, so a buffer filled by a busy loop takes several), within a limit.
    const auto drain_until = Clock::now() + 5s;
    drain(20ms, sink);
    while (drain(0ms, sink) && Clock::now() < drain_until) {
    }
    in_ = complete(monotonic_ns());
    latest_.reset();
    for (const auto& c : in_.calls)
        if (c.call == SyscallKind::bind && c.error == EADDRINUSE && opts_.port) {
            in_.bind_diagnosis = doctor_summary(*opts_.port);
            break;
        }
    return analyse(in_);
}

}  // namespace socklab::program
