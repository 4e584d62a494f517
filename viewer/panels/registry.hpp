#pragma once
// Every panel of the viewer, in drawing order. See registry.cpp to add one.
#include <memory>
#include <vector>

#include "ui/panel.hpp"

namespace socklab::viewer {

[[nodiscard]] std::vector<std::unique_ptr<Panel>> make_panels();

}  // namespace socklab::viewer
