#pragma once
// Well-formed UTF-8 (Unicode 15.1, Table 3-7) for text of any origin: a process names itself
// with any bytes and the kernel cuts the name at 15, a peer sends what it likes, recv() ends
// where it ends. One decoder for every place that must hand such bytes on as text (JSON
// lines, Prometheus labels, a chat message split across two reads).
#include <cstddef>
#include <string>
#include <string_view>

namespace socklab::utf8 {

// The length (1–4) of the well-formed character starting at s[i], or 0 when the bytes there
// are not one: a stray continuation byte, an overlong form, a surrogate, a code point past
// U+10FFFF, or a sequence cut short. Requires i < s.size().
[[nodiscard]] std::size_t sequence_at(std::string_view s, std::size_t i) noexcept;

// `s` with each byte that begins no well-formed character replaced by U+FFFD.
[[nodiscard]] std::string valid(std::string_view s);

// How many leading bytes of `s` hold only whole characters: an incomplete sequence at the end
// (the rest of it may come with the next read) is left out. Ill-formed bytes before it count
// as whole (valid() replaces them).
[[nodiscard]] std::size_t whole_prefix(std::string_view s) noexcept;

}  // namespace socklab::utf8
