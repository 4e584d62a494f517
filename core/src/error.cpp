#include "socklab/error.hpp"

#include <cstring>

namespace socklab {

Error sys_error(const std::string& what, int err) {
    return Error("failed to " + what + ": " + std::strerror(err));
}

}  // namespace socklab
