#include "poller.hpp"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "frame_bench.hpp"
#include "frame_builder.hpp"
#include "socklab/i18n.hpp"
#include "socklab/error.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/owners.hpp"
#include "socklab/tracer.hpp"

namespace socklab::viewer {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kTracerWait{50};
constexpr std::chrono::milliseconds kEarliestRepoll{50};

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

long clamp_interval(std::chrono::milliseconds ms) {
    return std::clamp(ms, Poller::kMinInterval, Poller::kMaxInterval).count();
}

}  // namespace

Poller::Poller(PollerOptions opts) : opts_(std::move(opts)) {
    interval_ms_ = clamp_interval(opts_.interval);
    latest_ = std::make_shared<const Frame>();
}

Poller::~Poller() { stop(); }

void Poller::start() {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void Poller::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

FramePtr Poller::latest() const {
    std::lock_guard lk(mu_);
    return latest_;
}

bool Poller::wait_for_frame(std::uint64_t after_seq, std::chrono::milliseconds timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return latest_->seq > after_seq; });
}

void Poller::set_paused(bool paused) {
    paused_ = paused;
    cv_.notify_all();
}

void Poller::set_interval(std::chrono::milliseconds interval) {
    interval_ms_ = clamp_interval(interval);
    cv_.notify_all();
}

void Poller::poll_now() {
    {
        std::lock_guard lk(mu_);
        poll_requested_ = true;
    }
    cv_.notify_all();
}

std::uint64_t Poller::transitions_since(std::uint64_t after_seq,
                                        std::vector<ObservedTransition>& out) const {
    std::lock_guard lk(mu_);
    auto it = std::upper_bound(feed_.begin(), feed_.end(), after_seq,
                               [](std::uint64_t s, const ObservedTransition& t) { return s < t.seq; });
    out.insert(out.end(), it, feed_.end());
    return std::max(after_seq, feed_seq_);
}

void Poller::set_view(ViewSpec spec) {
    std::lock_guard lk(mu_);
    view_ = std::move(spec);
}

void Poller::publish(std::shared_ptr<Frame> f, Clock::time_point poll_started) {
    FramePtr drop;  // let go of after the lock: its arrays go back to the pool
    {
        std::lock_guard lk(mu_);
        f->publish_ms = ms_since(poll_started);
        timings_.push_back({f->seq, f->poll_ms, f->publish_ms, f->poll_cpu_ms, f->snapshot_ms, f->history_ms, f->owners_ms,
                            f->rows_ms, f->view_ms});
        while (timings_.size() > kTimingsKept) timings_.pop_front();
        drop = std::move(retired_);
        retired_ = std::move(latest_);
        latest_ = std::move(f);
    }
    cv_.notify_all();
}

void Poller::FramePool::give(Frame* f) noexcept {
    {
        std::lock_guard lk(mu);
        if (spare.size() < kSpares) {
            spare.emplace_back(f);
            return;
        }
    }
    delete f;
}

std::shared_ptr<Frame> Poller::pooled_frame() {
    std::unique_ptr<Frame> f;
    {
        std::lock_guard lk(pool_->mu);
        if (!pool_->spare.empty()) {
            f = std::move(pool_->spare.back());
            pool_->spare.pop_back();
        }
    }
    if (!f) f = std::make_unique<Frame>();
    // Whichever thread lets go of the frame last hands it back here, under the pool's lock:
    // its arrays are filled again by a later poll (build_frame's `reuse`).
    return {f.release(), [pool = pool_](Frame* p) { pool->give(p); }};
}

std::vector<PollTiming> Poller::poll_timings() const {
    std::lock_guard lk(mu_);
    return {timings_.begin(), timings_.end()};
}

void Poller::feed(const History& h) {
    std::lock_guard lk(mu_);
    for (const auto& t : h.transitions()) {
        if (t.seq <= feed_seq_) continue;
        feed_.push_back(t);
        feed_seq_ = t.seq;
    }
    while (feed_.size() > opts_.feed_capacity) feed_.pop_front();
}

void Poller::run() {
    History history(opts_.history);
    std::unique_ptr<Source> source;
    std::string source_error;
    try {
        source = opts_.make_source ? opts_.make_source() : make_default_source();
    } catch (const std::exception& e) {
        source_error = e.what();
    }
    std::unique_ptr<OwnerIndex> owners;
    if (opts_.owners) owners = std::make_unique<OwnerIndex>();
    TracerOptions topts;
    topts.force_unprivileged = !opts_.trace;
    TransitionTracer tracer(topts);
    Privileges priv;
    priv.root = ::geteuid() == 0;
    priv.tracer_active = tracer.status().active;
    priv.tracer_message = opts_.trace ? tracer.status().message
                                      : _("tracing is off (--no-trace): states shorter than the "
                                          "poll interval are not seen");
    std::unordered_map<std::uint32_t, std::string> users;
    std::vector<TransitionEvent> events;
    Snapshot snap;
    Query query;
    std::uint64_t seq = 0;
    std::string last_error = source_error;
    ParsedFilter parsed;
    std::uint64_t parsed_version = 0;

    // Whether a transition arrived.
    auto drain_tracer = [&](std::chrono::milliseconds timeout) {
        if (!priv.tracer_active) return false;
        events.clear();
        tracer.poll(events, timeout);
        if (events.empty()) return false;
        history.apply_events(events);
        feed(history);
        return true;
    };

    Clock::time_point last_poll_end{};
    Clock::duration last_poll_cost{};
    auto poll_once = [&] {
        const auto t0 = Clock::now();
        const double cpu0 = thread_cpu_ms();
        double snapshot_ms = 0, owners_ms = 0;
        if (source) {
            try {
                source->snapshot_into(query, snap);
                snapshot_ms = ms_since(t0);
                last_error.clear();
            } catch (const std::exception& e) {
                last_error = e.what();
            }
        }
        // Events read now are older or newer than the snapshot; history sorts that out by
        // their timestamps. Apply them first so a newer event is never overridden.
        drain_tracer(std::chrono::milliseconds(0));
        const auto t1 = Clock::now();
        if (last_error.empty() && source) history.apply_snapshot(snap);
        const double history_ms = ms_since(t0) - snapshot_ms;
        if (owners) {
            const auto t2 = Clock::now();
            try {
                owners->refresh_all();
            } catch (const std::exception& e) {
                if (last_error.empty()) last_error = e.what();
            }
            owners_ms = ms_since(t2);
            priv.owners_unreadable = owners->stats().unreadable;
            priv.owners_all = priv.owners_unreadable == 0;
        }
        BuildInputs in;
        in.now_ns = snap.taken_ns != 0 ? snap.taken_ns : monotonic_ns();
        in.closed_linger = opts_.closed_linger;
        if (owners) in.owners = [&](std::uint64_t inode) { return owners->owners_of(inode); };
        in.users = [&](std::uint32_t uid) -> std::string {
            auto it = users.find(uid);
            if (it == users.end()) it = users.emplace(uid, user_name(uid)).first;
            return it->second;
        };
        const auto t3 = Clock::now();
        auto frame = build_frame(history, in, pooled_frame());
        frame->rows_ms = ms_since(t3);
        const auto t4 = Clock::now();
        ViewSpec view;
        {
            std::lock_guard lk(mu_);
            view = view_;
        }
        if (view.version != 0) {
            if (view.version != parsed_version) {
                parsed = parse_filter(view.filter);
                parsed.scope = view.scope;
                parsed_version = view.version;
            }
            compute_view(*frame, parsed, view.state_mask, view.sort, in.now_ns, frame->view_order,
                         frame->view_counts);
            frame->view_version = view.version;
        }
        frame->view_ms = ms_since(t4);
        frame->history_ms = history_ms;
        frame->seq = ++seq;
        frame->taken_ns = snap.taken_ns;
        frame->snapshot_ms = snapshot_ms;
        frame->owners_ms = owners_ms;
        frame->build_ms = ms_since(t1) - owners_ms;
        frame->source = source ? std::string(source->name()) : std::string("none");
        frame->error = last_error;
        frame->privileges = priv;
        frame->lost_events = priv.tracer_active ? tracer.lost_events() : 0;
        feed(history);
        frame->poll_ms = ms_since(t0);
        frame->poll_cpu_ms = thread_cpu_ms() - cpu0;
        publish(std::move(frame), t0);
        last_poll_end = Clock::now();
        last_poll_cost = last_poll_end - t0;
    };

    for (;;) {
        bool requested = false;
        {
            std::lock_guard lk(mu_);
            if (stop_) break;
            requested = std::exchange(poll_requested_, false);
        }
        if (!paused_ || requested || seq == 0) poll_once();
        const auto deadline = Clock::now() + std::chrono::milliseconds(interval_ms_.load());
        bool changed = false;  // a transition arrived since the last snapshot
        for (;;) {
            {
                std::unique_lock lk(mu_);
                if (stop_ || poll_requested_) break;
                if (!priv.tracer_active) {
                    cv_.wait_until(lk, deadline, [&] { return stop_ || poll_requested_; });
                    break;
                }
            }
            const auto now = Clock::now();
            if (now >= deadline) break;
            // The tracer's poll doubles as the sleep: new transitions reach the event log
            // and the diagram within 50 ms, not at the next snapshot.
            changed |= drain_tracer(
                std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                         kTracerWait));
            // A socket changed state: take the snapshot now rather than at the deadline, so
            // the table shows a lab step's result within ~50 ms of its system call. Not
            // more often than one poll per kEarliestRepoll, and never so often that polling
            // takes more than a third of this thread's time (a 100k-socket poll costs
            // ~300 ms): under churn the interval decides again.
            if (changed && !paused_ &&
                Clock::now() - last_poll_end >= std::max<Clock::duration>(kEarliestRepoll, 2 * last_poll_cost))
                break;
        }
    }
    // The tracer prints nothing: what it could not remove is said here, as the viewer ends.
    if (const auto left = tracer.stop(); !left.empty()) std::fprintf(stderr, "socklab: %s\n", left.c_str());
}

}  // namespace socklab::viewer
