#pragma once
// The poller thread: owns the Source, the OwnerIndex, the Tracer and the History, and
// publishes an immutable Frame after every snapshot. Snapshots come every interval and, with
// the tracer, also as soon as a traced transition arrives (at most one per 50 ms, and rarer
// when a poll is expensive), so a change shows without waiting for the interval. The UI thread only calls the const
// accessors below (one short lock each) — it never touches the kernel.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "frame.hpp"
#include "table_view.hpp"
#include "socklab/history.hpp"
#include "socklab/source.hpp"

namespace socklab::viewer {

// One poll's cost as the bench reports it (--bench-frames: poll_ms, publish_ms).
struct PollTiming {
    std::uint64_t seq = 0;  // the frame it published
    double poll_ms = 0;
    double publish_ms = 0;
    double poll_cpu_ms = 0;  // the poller thread's CPU time: poll_ms less the waits for a core
    // Its phases: the kernel's dump, the history update, the owner scan, the rows, the view.
    double snapshot_ms = 0, history_ms = 0, owners_ms = 0, rows_ms = 0, view_ms = 0;
};

struct PollerOptions {
    std::chrono::milliseconds interval{1000};  // clamped to [kMinInterval, kMaxInterval]
    bool trace = true;    // run socklab::Tracer when permitted
    bool owners = true;   // join sockets with their processes
    // The table's source; default: netlink, /proc when netlink cannot be opened.
    std::function<std::unique_ptr<Source>()> make_source;
    HistoryOptions history;
    std::chrono::milliseconds closed_linger{2000};  // closed rows stay in the table this long
    std::size_t feed_capacity = 4096;               // transitions kept for the event log
};

class Poller {
public:
    static constexpr std::chrono::milliseconds kMinInterval{100};
    static constexpr std::chrono::milliseconds kMaxInterval{5000};

    explicit Poller(PollerOptions opts = {});
    ~Poller();  // stops and joins the thread
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void start();
    void stop();

    // The newest frame; never null after the first publish (an empty frame before it).
    [[nodiscard]] FramePtr latest() const;
    // Wait (bounded) until a frame with seq > after_seq is published. For headless runs and tests.
    bool wait_for_frame(std::uint64_t after_seq, std::chrono::milliseconds timeout) const;

    void set_paused(bool paused);
    [[nodiscard]] bool paused() const noexcept { return paused_.load(); }
    void set_interval(std::chrono::milliseconds interval);
    [[nodiscard]] std::chrono::milliseconds interval() const noexcept {
        return std::chrono::milliseconds(interval_ms_.load());
    }
    void poll_now();  // take a snapshot now, even when paused
    // Filter and sort every new frame for this view (Frame::view_order), off the UI thread.
    void set_view(ViewSpec spec);

    // Transitions (traced or inferred) with seq > after_seq, oldest first, appended to `out`.
    // Returns the newest seq known (after_seq when nothing is new). Live between snapshots:
    // traced events are fed as the tracer reads them.
    std::uint64_t transitions_since(std::uint64_t after_seq,
                                    std::vector<ObservedTransition>& out) const;

    // The cost of the newest polls (at most kTimingsKept), oldest first.
    static constexpr std::size_t kTimingsKept = 16384;
    [[nodiscard]] std::vector<PollTiming> poll_timings() const;

private:
    void run();
    void publish(std::shared_ptr<Frame> f, std::chrono::steady_clock::time_point poll_started);
    void feed(const History& h);

    PollerOptions opts_;
    std::atomic<bool> paused_{false};
    std::atomic<long> interval_ms_{1000};

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;  // wakes the thread (stop, poll now) and waiters
    bool stop_ = false;
    bool poll_requested_ = false;
    FramePtr latest_;
    FramePtr retired_;  // the frame before: its last reference usually dies on this thread
    // Frames no one holds any more, to be filled again instead of allocated (at 100k sockets a
    // fresh frame is tens of MB of new pages). Shared with the frames' deleters: a frame may
    // outlive the poller in a reader's hands.
    struct FramePool {
        static constexpr std::size_t kSpares = 2;
        std::mutex mu;
        std::vector<std::unique_ptr<Frame>> spare;
        void give(Frame* f) noexcept;
    };
    std::shared_ptr<FramePool> pool_ = std::make_shared<FramePool>();
    std::shared_ptr<Frame> pooled_frame();
    ViewSpec view_;
    std::deque<ObservedTransition> feed_;
    std::uint64_t feed_seq_ = 0;
    std::deque<PollTiming> timings_;

    std::thread thread_;
};

}  // namespace socklab::viewer
