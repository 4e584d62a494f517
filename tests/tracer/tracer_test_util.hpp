#pragma once
// Helpers for the tracer tests: where instances live, and collecting a connection's events.
#include <sys/stat.h>

#include <string>

namespace socklab::test {

inline std::string tracing_instances_dir() {
    struct stat st {};
    if (::stat("/sys/kernel/tracing/instances", &st) == 0) return "/sys/kernel/tracing/instances";
    return "/sys/kernel/debug/tracing/instances";
}

inline bool instance_exists(const std::string& name) {
    struct stat st {};
    return !name.empty() && ::stat((tracing_instances_dir() + "/" + name).c_str(), &st) == 0;
}

}  // namespace socklab::test
