#pragma once
// Reading the recorded fixtures (tests/fixtures) into memory.
#include <cstddef>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace socklab::test {

inline std::string fixture_path(const std::string& rel) {
    return std::string(SOCKLAB_FIXTURES) + "/" + rel;
}

inline std::vector<std::byte> fixture_bytes(const std::string& rel) {
    std::ifstream in(fixture_path(rel), std::ios::binary);
    if (!in) throw std::runtime_error("failed to open fixture " + fixture_path(rel));
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) out[i] = static_cast<std::byte>(raw[i]);
    return out;
}

inline std::vector<std::string> fixture_lines(const std::string& rel) {
    std::ifstream in(fixture_path(rel));
    if (!in) throw std::runtime_error("failed to open fixture " + fixture_path(rel));
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

}  // namespace socklab::test
