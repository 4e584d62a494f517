#include "socklab/utf8.hpp"

namespace socklab::utf8 {
namespace {

// The length of a sequence led by `b0` and the range its second byte must be in (Table 3-7:
// the narrow ranges exclude overlong forms, surrogates and code points past U+10FFFF).
struct Lead {
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
};

Lead lead(unsigned char b0) noexcept {
    if (b0 < 0x80) return {1};
    if (b0 >= 0xC2 && b0 <= 0xDF) return {2};
    if (b0 == 0xE0) return {3, 0xA0, 0xBF};
    if (b0 == 0xED) return {3, 0x80, 0x9F};
    if (b0 >= 0xE1 && b0 <= 0xEF) return {3};
    if (b0 == 0xF0) return {4, 0x90, 0xBF};
    if (b0 >= 0xF1 && b0 <= 0xF3) return {4};
    if (b0 == 0xF4) return {4, 0x80, 0x8F};
    return {};
}

}  // namespace

std::size_t sequence_at(std::string_view s, std::size_t i) noexcept {
    const auto l = lead(static_cast<unsigned char>(s[i]));
    if (l.len <= 1) return l.len;
    if (i + l.len > s.size()) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < l.lo || b1 > l.hi) return 0;
    for (std::size_t k = 2; k < l.len; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    return l.len;
}

std::string valid(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        if (const auto n = sequence_at(s, i); n != 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::size_t whole_prefix(std::string_view s) noexcept {
    // Only the last three bytes can begin a character the end cuts short.
    for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
        const auto c = static_cast<unsigned char>(s[s.size() - back]);
        if ((c & 0xC0) == 0x80) continue;  // a continuation byte: its lead is further back
        const auto need = lead(c).len;
        return need > back ? s.size() - back : s.size();
    }
    return s.size();
}

}  // namespace socklab::utf8
