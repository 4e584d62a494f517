// libFuzzer target: the framing hint's pure half (program::rebuild_stream, framing_hints,
// split_excerpt, merged_excerpt). The first byte says how many receives (up to 15) follow, one byte each (their
// lengths); the next how many chunks (up to 7), two bytes each (offset, length); the rest is
// the bytes the chunks take in turn. The rebuilt stream never holds more than the chunks
// reach, each hint names its stream, and an excerpt is always quoted; never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "socklab/program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace socklab::program;
    std::size_t at = 0;
    auto next = [&]() -> std::uint8_t { return at < size ? data[at++] : 0; };
    ReceivedStream s;
    s.fd = 4;
    const std::size_t reads = next() % 16;
    for (std::size_t i = 0; i < reads; ++i) s.reads.push_back(next());
    const std::size_t chunks = next() % 8;
    std::vector<std::pair<std::uint8_t, std::uint8_t>> layout;
    for (std::size_t i = 0; i < chunks; ++i) {
        const auto offset = next();
        layout.emplace_back(offset, next());
    }
    std::vector<StreamChunk> parts;
    std::size_t reach = 0;
    for (const auto& [offset, len] : layout) {
        StreamChunk c;
        c.offset = offset;
        const std::size_t take = std::min<std::size_t>(len, size - at);
        c.bytes.assign(reinterpret_cast<const char*>(data + at), take);
        at += take;
        reach = std::max<std::size_t>(reach, offset + take);
        parts.push_back(std::move(c));
    }
    s.bytes = rebuild_stream(parts);
    if (s.bytes.size() > reach) __builtin_trap();
    const std::vector<ReceivedStream> streams{s};
    for (const auto& f : framing_hints(streams))
        if (f.fd != 4 || f.kind != FindingKind::framing_hint || !f.count || *f.count == 0)
            __builtin_trap();
    // At most two hints per stream (split, merged).
    if (framing_hints(streams).size() > 2) __builtin_trap();
    for (std::size_t i = 0; i <= s.bytes.size() + 1; ++i) {
        const auto e = split_excerpt(s.bytes, i, 1 + i % 8);
        if (e.size() < 7 || e.front() != '"' || e.back() != '"') __builtin_trap();
        // Any read [i/2, i) and any newline offset, sensible or not: a quoted pair, no crash.
        const auto m = merged_excerpt(s.bytes, i / 2, i, i / 2 + i % 3, 1 + i % 8);
        if (m.size() < 7 || m.front() != '"' || m.back() != '"') __builtin_trap();
    }
    return 0;
}
