#pragma once
// A made-up socket table of any size, for the frame-time benchmark and demos on machines
// that cannot hold 100k real sockets. Deterministic; each snapshot moves a few sockets on
// (connect, close, TIME_WAIT expiry) so highlighting and lifelines have work to do.
#include <cstddef>
#include <memory>

#include "socklab/source.hpp"

namespace socklab::viewer {

[[nodiscard]] std::unique_ptr<Source> make_synthetic_source(std::size_t sockets);

}  // namespace socklab::viewer
