// Placeholder until the tracepoint reader lands: the tracer reports itself inactive, so every
// front end takes its polling-only path.
#include "socklab/tracer.hpp"

namespace socklab {

struct Tracer::Impl {
    TracerStatus status{false, "the tracer is not built yet; polling only"};
};

Tracer::Tracer(TracerOptions) : impl_(std::make_unique<Impl>()) {}
Tracer::~Tracer() = default;
const TracerStatus& Tracer::status() const noexcept { return impl_->status; }
std::size_t Tracer::poll(std::vector<TransitionEvent>&, std::chrono::milliseconds) { return 0; }
std::uint64_t Tracer::lost_events() const { return 0; }
std::size_t Tracer::remove_stale_instances() { return 0; }

}  // namespace socklab
